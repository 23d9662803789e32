package web

import (
	"keydesk/web/paths"
)

// auditTrailRoutes registers General » Audit Trail on a group that already
// requires a signed-in admin holding the audit_trail module.
func (s *Server) auditTrailRoutes(g routeSet) {
	h := s.Handlers
	auditTrail := func(path string) string { return paths.Under(paths.AuditTrail, path) }
	g.GET(auditTrail(paths.AuditTrail), h.AuditTrail)
	g.GET(auditTrail(paths.AuditTrailDownload), h.DownloadAuditTrail)
	g.GET(auditTrail(paths.AuditTrailDownloadJSONL), h.DownloadAuditTrailJSONL)
	g.POST(auditTrail(paths.AuditTrailVerify), h.VerifyAuditTrail)
}
