package models

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Program is one loyalty program (a tenant).
type Program struct {
	ID        int64
	Name      string
	PartnerID string
	CreatedAt time.Time
}

// ErrInvalidProgramName is returned for an empty or overlong program name.
var ErrInvalidProgramName = errors.New("program name must be 1 to 100 characters")

// CreateProgram creates a program with a fresh partner ID and its legacy
// default API key, audited in the same transaction.
func (s *Store) CreateProgram(actor Actor, name string) (*Program, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > 100 {
		return nil, ErrInvalidProgramName
	}
	program := &Program{Name: name, CreatedAt: s.now()}
	err := s.db.Transaction(func(tx *gorm.DB) error {
		for attempt := 0; ; attempt++ {
			program.PartnerID = NewPartnerID()
			err := tx.Create(program).Error
			if err == nil {
				break
			}
			if !isUniqueViolation(err) || attempt > 5 {
				return err
			}
		}
		if _, err := s.insertKey(tx, program.ID, Actor{}, "Default key", "Legacy default key, created with the program.", true); err != nil {
			return err
		}
		return s.AppendAudit(tx, program.ID, actor, AuditEntry{
			Action: ActionProgramCreated, TargetType: "program", TargetID: program.PartnerID, TargetName: program.Name,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: unable to create program: %w", err)
	}
	return program, nil
}

// ProgramByPartnerID finds a program by its partner ID.
func (s *Store) ProgramByPartnerID(partnerID string) (*Program, error) {
	var p Program
	err := s.db.Where("partner_id = ?", partnerID).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: unable to find program: %w", err)
	}
	return &p, nil
}

// ProgramByID finds a program by id.
func (s *Store) ProgramByID(id int64) (*Program, error) {
	var p Program
	err := s.db.Where("id = ?", id).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: unable to find program: %w", err)
	}
	return &p, nil
}

// AllPrograms lists every program.
func (s *Store) AllPrograms() ([]Program, error) {
	var ps []Program
	err := s.db.Order("id").Find(&ps).Error
	return ps, err
}
