package modules

import (
	"errors"

	"github.com/etcdplay/etcdplay/engine"
	"github.com/etcdplay/etcdplay/inventory"
)

type inventoryT = inventory.Inventory

func asRefused(err error, r **engine.RefusedError) bool { return errors.As(err, r) }
