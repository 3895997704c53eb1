package inventory

// SetExtraVars gives every host the extra vars (etcdplay run -e), over
// its own variables: Ansible's precedence, where extra vars win over
// everything, connection variables included. VarSource names them as
// extra vars.
func (inv *Inventory) SetExtraVars(vars map[string]any) {
	for _, h := range inv.hosts {
		for k, v := range vars {
			h.Vars[k] = deepCopy(v)
			if h.extra == nil {
				h.extra = map[string]bool{}
			}
			h.extra[k] = true
		}
	}
}
