package container

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// validName is Docker's rule for container names: a letter or digit, then
// at least one more of letters, digits, '_', '.' and '-'.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// CheckName returns name without its leading "/", or Docker's error when
// it is not a valid container name.
func CheckName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	if !validName.MatchString(n) {
		return "", errdefs.Invalid("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return n, nil
}

// Words of the names given to containers created without one: a quality
// and a fish, as a shoal is of fish.
var (
	qualities = []string{
		"agile", "amber", "bold", "brave", "brisk", "calm", "clever", "cool", "curious", "dapper",
		"eager", "fancy", "fearless", "gentle", "glad", "golden", "happy", "jolly", "keen", "kind",
		"lively", "lucky", "merry", "mellow", "nimble", "noble", "patient", "plucky", "proud", "quick",
		"quiet", "rapid", "serene", "shiny", "silver", "sleek", "spry", "steady", "swift", "witty",
	}
	fish = []string{
		"anchovy", "barracuda", "bass", "bream", "carp", "catfish", "char", "cod", "dace", "eel",
		"flounder", "goby", "grouper", "gudgeon", "haddock", "hake", "halibut", "herring", "ide", "koi",
		"ling", "mackerel", "marlin", "minnow", "mullet", "perch", "pike", "plaice", "pollock", "roach",
		"rudd", "salmon", "sardine", "shad", "smelt", "snapper", "sprat", "sturgeon", "tench", "tuna",
	}
)

// GenerateName returns a name for a container created without one, as
// dockerd does ("quality_fish"), that taken says is free; a digit is added
// when the plain names keep colliding.
func GenerateName(taken func(name string) bool) string {
	for i := 0; ; i++ {
		name := qualities[rand.IntN(len(qualities))] + "_" + fish[rand.IntN(len(fish))]
		if i >= 10 {
			name += fmt.Sprint(rand.IntN(10 * i))
		}
		if !taken(name) {
			return name
		}
	}
}

// Resolve finds the container idOrName means among refs, as dockerd does:
// a full ID, then a name (with or without the leading "/"), then a prefix
// of exactly one ID.
func Resolve(idOrName string, refs []Ref) (Ref, error) {
	if idOrName == "" {
		return Ref{}, errdefs.NotFound("No such container: %s", idOrName)
	}
	name := strings.TrimPrefix(idOrName, "/")
	var byName *Ref
	var prefixed []Ref
	for i, r := range refs {
		switch {
		case r.ID == idOrName:
			return r, nil
		case r.Name == name:
			byName = &refs[i]
		case strings.HasPrefix(r.ID, idOrName):
			prefixed = append(prefixed, r)
		}
	}
	if byName != nil {
		return *byName, nil
	}
	switch len(prefixed) {
	case 0:
		return Ref{}, errdefs.NotFound("No such container: %s", idOrName)
	case 1:
		return prefixed[0], nil
	default:
		return Ref{}, errdefs.Invalid("multiple IDs found with provided prefix: %s", idOrName)
	}
}
