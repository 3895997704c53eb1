package etcd

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckURL checks one URL as etcd's types.NewURLs does.
func CheckURL(s string) string {
	if !strings.Contains(s, "://") {
		return fmt.Sprintf("%q has no scheme: expected http://, https://, unix:// or unixs://, e.g. http://10.0.0.1:2380", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL: %v", s, err)
	}
	switch u.Scheme {
	case "http", "https":
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
			return fmt.Sprintf("%q has no port: expected scheme://host:port, e.g. http://10.0.0.1:2380", s)
		}
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
			return fmt.Sprintf("%q has a path: etcd URLs are scheme://host:port only", s)
		}
	case "unix", "unixs":
	default:
		return fmt.Sprintf("%q: scheme %q is not one etcd serves (http, https, unix, unixs)", s, u.Scheme)
	}
	return ""
}
