package inventory

// SetExtraVars gives every host the extra vars (etcdplay run -e), over
// its own variables: Ansible's precedence, where extra vars win over
// everything, connection variables included. VarSource names them as
// extra vars, with the inventory's value they override.
func (inv *Inventory) SetExtraVars(vars map[string]any) {
	for _, h := range inv.hosts {
		for k, v := range vars {
			if h.extra == nil {
				h.extra = map[string]string{}
			}
			if _, set := h.extra[k]; !set {
				h.extra[k] = h.VarSource(k) // what it overrides, if anything
			}
			h.Vars[k] = deepCopy(v)
		}
	}
}
