package audit

import "strings"

// APIKeyActorPrefix marks an actor that is an API key rather than an admin.
//
// An API call's event has ActorID 0 and ActorEmail "api_key:" followed by
// the calling key's public identifier (kdi_…; the default key has one
// too), e.g. "api_key:kdi_8Fk2aQ1m9ZxT0b2c". An email always holds an "@"
// and an identifier never does, so the two cannot be confused; the field
// keeps the chain's canonical encoding unchanged. Never the key itself.
const APIKeyActorPrefix = "api_key:"

// APIKeyActorName is the actor name of an API call made with the key
// whose identifier is given.
func APIKeyActorName(identifier string) string {
	return APIKeyActorPrefix + identifier
}

// ActorAPIKey returns the identifier of the API key that acted, if the
// event's actor is a key.
func (e Event) ActorAPIKey() (identifier string, ok bool) {
	if e.ActorID != 0 {
		return "", false
	}
	return strings.CutPrefix(e.ActorEmail, APIKeyActorPrefix)
}

// ManagementKeyActorPrefix marks an actor that is a management key: the
// event's ActorID is 0 and ActorEmail "management_key:" followed by the
// key's public identifier (kdmi_…), never the key itself.
const ManagementKeyActorPrefix = "management_key:"

// ManagementKeyActorName is the actor name of a management API call made
// with the management key whose identifier is given.
func ManagementKeyActorName(identifier string) string {
	return ManagementKeyActorPrefix + identifier
}
