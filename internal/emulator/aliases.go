package emulator

import (
	"io"
	"time"

	"github.com/jitaccess/jitaccess/internal/emulator/fault"
	"github.com/jitaccess/jitaccess/internal/emulator/iap"
	"github.com/jitaccess/jitaccess/internal/emulator/seed"
	"github.com/jitaccess/jitaccess/internal/emulator/world"
)

// The world's vocabulary, under the names callers have always used: the
// emulator's users (the demo, the bench, every package's tests) need only
// this package, whichever API package implements what they touch.
type (
	// World is the state every emulated API reads and changes.
	World = world.World
	// Organization, Folder and Project are the resource hierarchy.
	Organization = world.Organization
	// Folder is a folder of the hierarchy.
	Folder = world.Folder
	// Project is a project of the hierarchy.
	Project = world.Project
	// Group is a Google group.
	Group = world.Group
	// User is a user account of the world.
	User = world.User
	// ServiceAccount is a service account of the world.
	ServiceAccount = world.ServiceAccount
	// Expr is an IAM condition.
	Expr = world.Expr
	// Binding is an IAM role binding.
	Binding = world.Binding
	// Policy is an IAM allow policy.
	Policy = world.Policy
	// Role is a custom IAM role (the seed's roles: section).
	Role = world.Role

	// Fault describes how calls to a method misbehave.
	Fault = fault.Fault
	// Faults is the set of faults by method pattern.
	Faults = fault.Faults

	// Seed is the YAML description of a world.
	Seed = seed.Seed
	// SeedOrganization is the organization of a seed.
	SeedOrganization = seed.SeedOrganization
	// SeedFolder is a folder of a seed.
	SeedFolder = seed.SeedFolder
	// SeedProject is a project of a seed.
	SeedProject = seed.SeedProject
	// SeedGroup is a group of a seed.
	SeedGroup = seed.SeedGroup
	// SeedSecret is a secret of a seed.
	SeedSecret = seed.SeedSecret
	// SeedFault is a fault of a seed.
	SeedFault = seed.SeedFault
	// SyntheticOptions size a synthetic world.
	SyntheticOptions = seed.SyntheticOptions

	// IAP is the emulator's Identity-Aware Proxy key.
	IAP = iap.Proxy
	// IAPClaims are the claims of an IAP assertion.
	IAPClaims = iap.Claims
)

// Fixed names of the emulated world.
const (
	// IAPIssuer is the iss claim of every IAP assertion.
	IAPIssuer = iap.Issuer

	SyntheticOrganization = seed.SyntheticOrganization
	SyntheticDomain       = seed.SyntheticDomain
	SyntheticAppAccount   = seed.SyntheticAppAccount
)

// NewWorld returns an empty world; a nil clock means time.Now.
func NewWorld(clock func() time.Time) *World { return world.New(clock) }

// LoadSeed parses and validates a YAML seed.
func LoadSeed(r io.Reader) (*Seed, error) { return seed.LoadSeed(r) }

// SyntheticSeed builds a world for scale tests (see seed.SyntheticSeed).
func SyntheticSeed(opts SyntheticOptions) *Seed { return seed.SyntheticSeed(opts) }

// SyntheticUser is the i-th user of a synthetic world.
func SyntheticUser(i int) string { return seed.SyntheticUser(i) }

// SyntheticGroup is the i-th group of a synthetic world.
func SyntheticGroup(i int) string { return seed.SyntheticGroup(i) }

// SyntheticProject is the i-th project of a synthetic world.
func SyntheticProject(i int) string { return seed.SyntheticProject(i) }

// NewIAP creates an IAP with a fresh P-256 key.
func NewIAP(clock func() time.Time) (*IAP, error) { return iap.New(clock) }
