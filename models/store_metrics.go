package models

import "database/sql"

// SQLDB is the connection pool under the stores (for its figures in
// metrics).
func (s *Stores) SQLDB() (*sql.DB, error) { return s.db.DB() }
