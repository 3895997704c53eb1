package suggest

import "testing"

func TestClosest(t *testing.T) {
	for _, tc := range []struct {
		candidates []string
		cases      map[string]string
	}{
		{[]string{"etcd", "etcd-1", "spare", "all", "ungrouped"}, map[string]string{
			"etdc": "etcd", "ectd": "etcd", "etc": "etcd", "spar": "spare", "Etcd": "etcd",
			"etcd-11": "etcd-1", "x": "", "database": "", "": "",
		}},
		{[]string{"copy", "command", "shell", "systemd"}, map[string]string{
			"cpy": "copy", "cpoy": "copy", "sytemd": "systemd", "shel": "shell", "rsync": "",
		}},
		{[]string{"e1", "e2", "e3"}, map[string]string{"e": "e1"}},
		{[]string{"ETCD_NAME", "ETCD_INITIAL_CLUSTER", "ETCD_INITIAL_CLUSTER_TOKEN"}, map[string]string{
			"ETCD_NAEM": "ETCD_NAME", "ETCD_INITAL_CLUSTER": "ETCD_INITIAL_CLUSTER",
			"ETCD_INITAL_CLUSTER_TOKEN": "ETCD_INITIAL_CLUSTER_TOKEN", "ETCD_QUOTA": "",
		}},
	} {
		for in, want := range tc.cases {
			if got := Closest(in, tc.candidates); got != want {
				t.Errorf("Closest(%q, %q) = %q, want %q", in, tc.candidates, got, want)
			}
		}
	}
}

func TestHint(t *testing.T) {
	if got := Hint("dst", []string{"dest", "src"}); got != " (did you mean dest?)" {
		t.Errorf("Hint(dst) = %q", got)
	}
	if got := Hint("frobnicate", []string{"dest", "src"}); got != "" {
		t.Errorf("Hint(frobnicate) = %q, want none", got)
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"etdc", "etcd", 1}, {"ETCD_INITAL_CLUSTER", "ETCD_INITIAL_CLUSTER", 1}} {
		if d := distance(tc.a, tc.b, 100); d != tc.d {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}
