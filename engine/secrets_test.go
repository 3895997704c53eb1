package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/etcdplay/etcdplay/engine/enginetest"
)

// TestSecretsMasked: a secret a module registers, and one of the
// configuration, never reaches the output: not in messages, command
// output, result data, prints or the recap.
func TestSecretsMasked(t *testing.T) {
	tell := &HostModule[noteArgs]{
		Name: "tell",
		Args: func(a *noteArgs) []any { return []any{"value", &a.Value, "tag?", &a.Tag} },
		Plan: func(ctx context.Context, c *HostCall, a *noteArgs) (Plan, error) {
			c.Secret("hunter2-password")
			c.Set("said", "the password is hunter2-password")
			return Do(Action{Desc: "say hunter2-password and tok-12345", Do: func(ctx context.Context) error {
				res, err := c.Shell(ctx, "echo hunter2-password; echo tok-12345 >&2; exit 3")
				c.SetOutput(res)
				return err
			}}), nil
		},
	}
	inv, conn := enginetest.Hosts(t, "", "h1")
	rec := &recorder{}
	pb := &Playbook{src: source{path: "p.star"}, data: []byte(`
def main(ctx):
    r = tell("h1", value = 1)
    print("stdout was " + r.stdout + " and " + r.said)
    fail("giving up on hunter2-password")
`)}
	json := &strings.Builder{}
	out := multi{rec, NewJSON(json)}
	Run(context.Background(), Config{Inventory: inv, Connector: conn, Modules: []Module{tell}, Output: out, Secrets: []string{"tok-12345"}}, pb)
	for _, got := range []string{rec.String(), json.String()} {
		if strings.Contains(got, "hunter2-password") || strings.Contains(got, "tok-12345") {
			t.Errorf("a secret in the output:\n%s", got)
		}
		if !strings.Contains(got, "***") {
			t.Errorf("no masked secret in the output:\n%s", got)
		}
	}
}

type multi []Output

func (m multi) Emit(e Event) {
	for _, o := range m {
		o.Emit(e)
	}
}
