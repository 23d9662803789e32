package keys

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
)

// CreateProgram creates a program with a fresh partner ID and its legacy
// default API key, audited in the same transaction. It lives here, above
// accounts, because it spans programs and keys.
func (s *Store) CreateProgram(ctx context.Context, actor audit.Actor, name string) (*accounts.Program, error) {
	name, problem := input.Line("Program name", name)
	if problem != "" || name == "" || len([]rune(name)) > accounts.MaxProgramNameLength {
		return nil, accounts.ErrInvalidProgramName
	}
	program := &accounts.Program{Name: name, CreatedAt: s.now()}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for attempt := 0; ; attempt++ {
			program.PartnerID = NewPartnerID()
			err := tx.Create(program).Error
			if err == nil {
				break
			}
			if !database.IsUniqueViolation(err) || attempt > 5 {
				return err
			}
		}
		if _, err := s.insertKey(tx, program.ID, audit.Actor{}, "Default key", "Legacy default key, created with the program.", true, nil); err != nil {
			return err
		}
		return s.audit.Append(tx, program.ID, actor, audit.Entry{
			Action: audit.ActionProgramCreated, TargetType: audit.TargetProgram, TargetID: program.PartnerID, TargetName: program.Name,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("keys: unable to create program: %w", err)
	}
	return program, nil
}
