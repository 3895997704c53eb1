package etcd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path"

	"google.golang.org/protobuf/encoding/protowire"
)

// WALMeta is the identity an etcd data dir records: the member and cluster
// it belongs to. etcd writes it as the metadata record near the start of
// every WAL segment, so any segment, including the oldest kept one, has it.
type WALMeta struct {
	MemberID  uint64
	ClusterID uint64
}

// WAL record types, as go.etcd.io/etcd/server/v3/storage/wal numbers them.
const (
	walMetadataType = 1
	walCRCType      = 4
)

// WALHeadBytes is how much of a WAL segment is read to find the metadata:
// the segment starts with a CRC record and then the metadata record, a few
// dozen bytes in all.
const WALHeadBytes = 4096

var ErrNoWALMetadata = errors.New("no metadata record at the start of the WAL segment")

// ParseWALMetadata reads the member and cluster ID from the first records
// of a WAL segment. The framing is etcd's: a little-endian 64-bit length
// whose lower 56 bits are the record size and whose top byte, when the
// high bit is set, holds the padding size; then a walpb.Record protobuf
// (type = 1, crc = 2, data = 3). The metadata record's data is an
// etcdserverpb.Metadata (NodeID = 1, ClusterID = 2). The metadata's CRC
// is checked: it is a CRC-32C over the data, chained from the previous
// CRC record's value.
func ParseWALMetadata(b []byte) (WALMeta, error) {
	var prevCRC uint32
	for i := 0; i < 8 && len(b) >= 8; i++ {
		lenField := int64(binary.LittleEndian.Uint64(b))
		if lenField == 0 {
			break // preallocated zeros: the segment ends here
		}
		recBytes := int64(uint64(lenField) & ^(uint64(0xff) << 56))
		var padBytes int64
		if lenField < 0 {
			padBytes = int64((uint64(lenField) >> 56) & 0x7)
		}
		if recBytes+padBytes > int64(len(b)-8) {
			return WALMeta{}, fmt.Errorf("WAL record %d: %d bytes, only %d read: %w", i, recBytes, len(b)-8, ErrNoWALMetadata)
		}
		typ, crc, data, err := parseWALRecord(b[8 : 8+recBytes])
		if err != nil {
			return WALMeta{}, fmt.Errorf("WAL record %d: %w", i, err)
		}
		b = b[8+recBytes+padBytes:]
		switch typ {
		case walCRCType:
			prevCRC = crc
		case walMetadataType:
			if got := crc32.Update(prevCRC, crc32.MakeTable(crc32.Castagnoli), data); got != crc {
				return WALMeta{}, fmt.Errorf("WAL metadata record: crc %08x, want %08x: the segment is damaged", got, crc)
			}
			return parseMetadata(data)
		}
	}
	return WALMeta{}, ErrNoWALMetadata
}

func parseWALRecord(b []byte) (typ int64, crc uint32, data []byte, err error) {
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, 0, nil, fmt.Errorf("bad protobuf tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && wt == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, 0, nil, protowire.ParseError(n)
			}
			typ, b = int64(v), b[n:]
		case num == 2 && wt == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, 0, nil, protowire.ParseError(n)
			}
			crc, b = uint32(v), b[n:]
		case num == 3 && wt == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, 0, nil, protowire.ParseError(n)
			}
			data, b = v, b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, wt, b)
			if n < 0 {
				return 0, 0, nil, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return typ, crc, data, nil
}

func parseMetadata(b []byte) (WALMeta, error) {
	var m WALMeta
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return WALMeta{}, fmt.Errorf("WAL metadata: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if wt == protowire.VarintType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return WALMeta{}, fmt.Errorf("WAL metadata: %w", protowire.ParseError(n))
			}
			b = b[n:]
			if num == 1 {
				m.MemberID = v
			} else {
				m.ClusterID = v
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, wt, b)
		if n < 0 {
			return WALMeta{}, fmt.Errorf("WAL metadata: %w", protowire.ParseError(n))
		}
		b = b[n:]
	}
	if m.MemberID == 0 || m.ClusterID == 0 {
		return WALMeta{}, fmt.Errorf("WAL metadata without member or cluster ID (member %x, cluster %x)", m.MemberID, m.ClusterID)
	}
	return m, nil
}

// WALDir is where a data dir keeps its WAL unless --wal-dir moves it.
func WALDir(dataDir, walDirArg string) string {
	if walDirArg != "" {
		return walDirArg
	}
	return path.Join(dataDir, "member", "wal")
}
