package opts

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
)

// The flag values below implement pflag.Value, so that a bad value is refused
// while the command line is parsed, naming the flag.

// PortList collects --publish values.
type PortList struct{ Ports []swarm.PortConfig }

func (p *PortList) Set(v string) error {
	ports, err := ParsePort(v)
	if err != nil {
		return err
	}
	p.Ports = append(p.Ports, ports...)
	return nil
}
func (p *PortList) Type() string { return "port" }
func (p *PortList) String() string {
	var out []string
	for _, port := range p.Ports {
		out = append(out, portKey(port))
	}
	return strings.Join(out, ", ")
}

// MountList collects --mount values.
type MountList struct{ Mounts []mount.Mount }

func (m *MountList) Set(v string) error {
	mnt, err := ParseMount(v)
	if err != nil {
		return err
	}
	m.Mounts = append(m.Mounts, mnt)
	return nil
}
func (m *MountList) Type() string { return "mount" }
func (m *MountList) String() string {
	var out []string
	for _, mnt := range m.Mounts {
		out = append(out, fmt.Sprintf("%s %s %s", mnt.Type, mnt.Source, mnt.Target))
	}
	return strings.Join(out, ", ")
}

// PrefList collects --placement-pref values.
type PrefList struct {
	Prefs []swarm.PlacementPreference
	raw   []string
}

func (p *PrefList) Set(v string) error {
	pref, err := ParsePlacementPref(v)
	if err != nil {
		return err
	}
	p.Prefs = append(p.Prefs, pref)
	p.raw = append(p.raw, v)
	return nil
}
func (p *PrefList) Type() string { return "pref" }
func (p *PrefList) String() string {
	if len(p.raw) == 0 {
		return ""
	}
	return fmt.Sprint(p.raw)
}

// List collects repeated string values, each checked by an optional validator
// that may also rewrite it.
type List struct {
	Values   []string
	validate func(string) (string, error)
}

// NewList returns a List that checks each value with validate (nil: none).
func NewList(validate func(string) (string, error)) *List { return &List{validate: validate} }

func (l *List) Set(v string) error {
	if l.validate != nil {
		var err error
		if v, err = l.validate(v); err != nil {
			return err
		}
	}
	l.Values = append(l.Values, v)
	return nil
}
func (l *List) Type() string { return "list" }
func (l *List) String() string {
	if len(l.Values) == 0 {
		return ""
	}
	return fmt.Sprint(l.Values)
}

// EnvValidator accepts "KEY=value", and completes a bare "KEY" from lookup
// (the CLI's own environment) as docker does.
func EnvValidator(lookup func(string) (string, bool)) func(string) (string, error) {
	return func(v string) (string, error) {
		k, _, hasValue := strings.Cut(v, "=")
		if k == "" {
			return "", fmt.Errorf("invalid environment variable: %s", v)
		}
		if hasValue || lookup == nil {
			return v, nil
		}
		if val, ok := lookup(k); ok {
			return k + "=" + val, nil
		}
		return v, nil
	}
}

// LabelValidator accepts "key=value" or "key".
func LabelValidator(v string) (string, error) {
	if k, _, _ := strings.Cut(v, "="); strings.TrimSpace(k) == "" {
		return "", fmt.Errorf("invalid label '%s': empty name", v)
	}
	return v, nil
}

// GenericResourceValidator accepts "kind=value".
func GenericResourceValidator(v string) (string, error) {
	if _, err := ParseGenericResource(v); err != nil {
		return "", err
	}
	return v, nil
}

// NanoCPUs is a CPU amount flag ("0.5").
type NanoCPUs int64

func (n *NanoCPUs) Set(v string) error {
	c, err := ParseNanoCPUs(v)
	if err != nil {
		return err
	}
	*n = NanoCPUs(c)
	return nil
}
func (n *NanoCPUs) Type() string { return "decimal" }
func (n *NanoCPUs) String() string {
	if *n == 0 {
		return ""
	}
	return big.NewRat(int64(*n), 1e9).FloatString(3)
}

// MemBytes is a memory amount flag ("64MiB", "1g").
type MemBytes int64

func (m *MemBytes) Set(v string) error {
	b, err := ParseMemBytes(v)
	if err != nil {
		return err
	}
	*m = MemBytes(b)
	return nil
}
func (m *MemBytes) Type() string { return "bytes" }
func (m *MemBytes) String() string {
	if *m == 0 {
		return ""
	}
	return strconv.FormatInt(int64(*m), 10)
}

// Duration is a duration flag that remembers whether it was given, so that
// "not set" and "0s" differ; Positive ones refuse negative values.
type Duration struct {
	Value    *time.Duration
	Positive bool
}

func (d *Duration) Set(v string) error {
	dur, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	if d.Positive && dur < 0 {
		return fmt.Errorf("duration cannot be negative")
	}
	d.Value = &dur
	return nil
}
func (d *Duration) Type() string { return "duration" }
func (d *Duration) String() string {
	if d.Value == nil {
		return ""
	}
	return d.Value.String()
}

// Uint64 is a counter flag that remembers whether it was given.
type Uint64 struct{ Value *uint64 }

func (u *Uint64) Set(v string) error {
	n, err := strconv.ParseUint(v, 0, 64)
	if err != nil {
		return err
	}
	u.Value = &n
	return nil
}
func (u *Uint64) Type() string { return "uint" }
func (u *Uint64) String() string {
	if u.Value == nil {
		return ""
	}
	return strconv.FormatUint(*u.Value, 10)
}

// Ratio is a failure-ratio flag (a float32 from 0 to 1).
type Ratio float32

func (r *Ratio) Set(v string) error {
	f, err := strconv.ParseFloat(v, 32)
	if err != nil {
		return err
	}
	*r = Ratio(f)
	return nil
}
func (r *Ratio) Type() string   { return "float" }
func (r *Ratio) String() string { return strconv.FormatFloat(float64(*r), 'g', -1, 32) }

// ShellWords is a flag holding a command split into words ("--entrypoint").
type ShellWords struct {
	Words []string
	set   bool
}

func (s *ShellWords) Set(v string) error {
	words, err := SplitShellWords(v)
	if err != nil {
		return err
	}
	s.Words, s.set = words, true
	return nil
}
func (s *ShellWords) Type() string { return "command" }
func (s *ShellWords) String() string {
	if !s.set {
		return ""
	}
	return fmt.Sprint(s.Words)
}
