package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/engine/enginetest"
)

// TestFailAndRefuse: fail() and refuse() stop the run at their call, the
// one as stopped (exit status 1), the other as refused (5), and nothing
// after them runs; so does truthy() of a word that is no boolean, as bad
// input (4).
func TestFailAndRefuse(t *testing.T) {
	for _, tc := range []struct {
		call, msg string
		kind      ErrorKind
	}{
		{`fail("bootstrap:", "no", sep = " ")`, "fail.star:3:9: bootstrap: no", KindStopped},
		{`refuse("etcd-2 holds cluster 8e9e05c52164694d")`, "fail.star:3:11: refused: etcd-2 holds cluster 8e9e05c52164694d", KindRefused},
		{`truthy("ture")`, `fail.star:3:11: truthy: got "ture", want a boolean`, KindBadInput},
	} {
		inv, conn := enginetest.Hosts(t, "", "h1")
		rec := &recorder{}
		pb := &Playbook{src: source{path: "fail.star"}, data: []byte("def main(ctx):\n    note(\"h1\", value = 1)\n    " + tc.call + "\n    run(\"h1\", cmd = \"touch reached\")\n")}
		_, err := Run(context.Background(), Config{Inventory: inv, Connector: conn, Modules: testModules(), Output: rec}, pb)
		var e *Error
		if !errors.As(err, &e) || e.Kind() != tc.kind || !strings.Contains(err.Error(), tc.msg) {
			t.Fatalf("%s: got %v (%v), want %q (%v)", tc.call, err, KindOf(err), tc.msg, tc.kind)
		}
		if strings.Contains(rec.String(), "touch reached") {
			t.Fatalf("%s: the run went on:\n%s", tc.call, rec)
		}
	}
}
