package admin

// RouteTable lists the handler's operations as "METHOD /path", for the
// OpenAPI test.
func RouteTable() []string {
	out := []string{"GET " + openAPIPath}
	for _, rt := range routes {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}
