// Package opts turns the shoal CLI's service flags into a swarm.ServiceSpec the
// way docker's CLI does: parsers for --publish, --mount, --placement-pref,
// --generic-resource, CPU and memory amounts and shell words, flag values built
// on them, and the conversions for `service create` and `service update`.
package opts

import (
	"encoding/csv"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// ParsePort parses one --publish value, in the long syntax
// ("mode=host,target=80,published=8080,protocol=udp") or the short one
// ("[published[-end]:]target[-end][/protocol]"). A short range expands to one
// PortConfig per port.
func ParsePort(value string) ([]swarm.PortConfig, error) {
	if strings.Contains(value, "=") {
		p, err := parseLongPort(value)
		if err != nil {
			return nil, err
		}
		return []swarm.PortConfig{p}, nil
	}
	return parseShortPort(value)
}

func parseLongPort(value string) (swarm.PortConfig, error) {
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return swarm.PortConfig{}, err
	}
	p := swarm.PortConfig{}
	for _, field := range fields {
		key, val, ok := strings.Cut(field, "=")
		if !ok || key == "" {
			return p, fmt.Errorf("invalid field %s", field)
		}
		switch key {
		case "protocol":
			if val != string(network.TCP) && val != string(network.UDP) && val != string(network.SCTP) {
				return p, fmt.Errorf("invalid protocol value %s", val)
			}
			p.Protocol = network.IPProtocol(val)
		case "mode":
			if val != string(swarm.PortConfigPublishModeIngress) && val != string(swarm.PortConfigPublishModeHost) {
				return p, fmt.Errorf("invalid publish mode value %s", val)
			}
			p.PublishMode = swarm.PortConfigPublishMode(val)
		case "target":
			n, err := parsePortNumber(val)
			if err != nil {
				return p, err
			}
			p.TargetPort = n
		case "published":
			n, err := parsePortNumber(val)
			if err != nil {
				return p, err
			}
			p.PublishedPort = n
		default:
			return p, fmt.Errorf("invalid field key %s", key)
		}
	}
	if p.TargetPort == 0 {
		return p, errors.New(`missing mandatory field "target"`)
	}
	if p.PublishMode == "" {
		p.PublishMode = swarm.PortConfigPublishModeIngress
	}
	if p.Protocol == "" {
		p.Protocol = network.TCP
	}
	return p, nil
}

func parseShortPort(value string) ([]swarm.PortConfig, error) {
	spec, proto, hasProto := strings.Cut(value, "/")
	if !hasProto {
		proto = string(network.TCP)
	}
	proto = strings.ToLower(proto)
	if proto != string(network.TCP) && proto != string(network.UDP) && proto != string(network.SCTP) {
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	parts := strings.Split(spec, ":")
	var published, target string
	switch len(parts) {
	case 1:
		target = parts[0]
	case 2:
		published, target = parts[0], parts[1]
	default:
		return nil, errors.New("hostip is not supported")
	}
	tStart, tEnd, err := parsePortRange(target)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", target)
	}
	var out []swarm.PortConfig
	add := func(pub, tgt uint32) {
		out = append(out, swarm.PortConfig{
			Protocol: network.IPProtocol(proto), TargetPort: tgt, PublishedPort: pub, PublishMode: swarm.PortConfigPublishModeIngress,
		})
	}
	if published == "" {
		for t := tStart; t <= tEnd; t++ {
			add(0, t)
		}
		return out, nil
	}
	pStart, pEnd, err := parsePortRange(published)
	if err != nil {
		return nil, fmt.Errorf("invalid hostPort: %s", published)
	}
	switch {
	case pEnd-pStart == tEnd-tStart:
		for i := uint32(0); i <= tEnd-tStart; i++ {
			add(pStart+i, tStart+i)
		}
	case tStart == tEnd:
		// A published range for one target port: every published port leads to it.
		for pub := pStart; pub <= pEnd; pub++ {
			add(pub, tStart)
		}
	default:
		return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", target, published)
	}
	return out, nil
}

func parsePortNumber(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid port %q: must be a number from 0 to 65535", s)
	}
	return uint32(n), nil
}

func parsePortRange(s string) (start, end uint32, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if start, err = parsePortNumber(lo); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return start, start, nil
	}
	if end, err = parsePortNumber(hi); err != nil {
		return 0, 0, err
	}
	if end < start {
		return 0, 0, fmt.Errorf("invalid range %s", s)
	}
	return start, end, nil
}

// ParseMount parses one --mount value
// ("type=volume,source=data,target=/data,readonly,volume-label=a=b").
func ParseMount(value string) (mount.Mount, error) {
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return mount.Mount{}, err
	}
	m := mount.Mount{Type: mount.TypeVolume}
	volumeOptions := func() *mount.VolumeOptions {
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{Labels: map[string]string{}}
		}
		if m.VolumeOptions.DriverConfig == nil {
			m.VolumeOptions.DriverConfig = &mount.Driver{}
		}
		return m.VolumeOptions
	}
	bindOptions := func() *mount.BindOptions {
		if m.BindOptions == nil {
			m.BindOptions = &mount.BindOptions{}
		}
		return m.BindOptions
	}
	tmpfsOptions := func() *mount.TmpfsOptions {
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return m.TmpfsOptions
	}
	setOnMap := func(target map[string]string, v string) {
		if k, v, _ := strings.Cut(v, "="); k != "" {
			target[k] = v
		}
	}
	parseBool := func(key, val string) (bool, error) {
		b, err := strconv.ParseBool(val)
		if err != nil {
			return false, fmt.Errorf("invalid value for %s: %s", key, val)
		}
		return b, nil
	}
	for _, field := range fields {
		key, val, ok := strings.Cut(field, "=")
		if !ok {
			switch key {
			case "readonly", "ro":
				m.ReadOnly = true
			case "volume-nocopy":
				volumeOptions().NoCopy = true
			case "bind-nonrecursive":
				bindOptions().NonRecursive = true
			default:
				return m, fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
			continue
		}
		switch key {
		case "type":
			m.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			m.Source = val
			if val == "." || strings.HasPrefix(val, "."+string(filepath.Separator)) {
				if abs, err := filepath.Abs(val); err == nil {
					m.Source = abs
				}
			}
		case "target", "dst", "destination":
			m.Target = val
		case "readonly", "ro":
			if m.ReadOnly, err = parseBool(key, val); err != nil {
				return m, err
			}
		case "consistency":
			m.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bindOptions().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-nonrecursive":
			if bindOptions().NonRecursive, err = parseBool(key, val); err != nil {
				return m, err
			}
		case "volume-nocopy":
			if volumeOptions().NoCopy, err = parseBool(key, val); err != nil {
				return m, err
			}
		case "volume-label":
			setOnMap(volumeOptions().Labels, val)
		case "volume-driver":
			volumeOptions().DriverConfig.Name = val
		case "volume-opt":
			if volumeOptions().DriverConfig.Options == nil {
				volumeOptions().DriverConfig.Options = map[string]string{}
			}
			setOnMap(volumeOptions().DriverConfig.Options, val)
		case "tmpfs-size":
			n, err := units.RAMInBytes(val)
			if err != nil {
				return m, fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOptions().SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return m, fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOptions().Mode = os.FileMode(n)
		default:
			return m, fmt.Errorf("unexpected key '%s' in '%s'", key, field)
		}
	}
	switch {
	case m.Type == "":
		return m, errors.New("type is required")
	case m.Target == "":
		return m, errors.New("target is required")
	case m.VolumeOptions != nil && m.Type != mount.TypeVolume:
		return m, fmt.Errorf("cannot mix 'volume-*' options with mount type '%s'", m.Type)
	case m.BindOptions != nil && m.Type != mount.TypeBind:
		return m, fmt.Errorf("cannot mix 'bind-*' options with mount type '%s'", m.Type)
	case m.TmpfsOptions != nil && m.Type != mount.TypeTmpfs:
		return m, fmt.Errorf("cannot mix 'tmpfs-*' options with mount type '%s'", m.Type)
	}
	return m, nil
}

// ParsePlacementPref parses one --placement-pref value ("spread=node.labels.zone").
func ParsePlacementPref(value string) (swarm.PlacementPreference, error) {
	strategy, arg, ok := strings.Cut(value, "=")
	if !ok || strings.Contains(arg, "=") {
		return swarm.PlacementPreference{}, errors.New(`placement preference must be of the format "<strategy>=<arg>"`)
	}
	if strategy != "spread" {
		return swarm.PlacementPreference{}, fmt.Errorf("unsupported placement preference %s (only spread is supported)", strategy)
	}
	return swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: arg}}, nil
}

// ParseGenericResource parses one --generic-resource value: "gpu=2" is a
// discrete count, "gpu=GPU-0a1b" a named resource.
func ParseGenericResource(value string) (swarm.GenericResource, error) {
	kind, val, ok := strings.Cut(value, "=")
	if !ok || kind == "" || val == "" {
		return swarm.GenericResource{}, fmt.Errorf("invalid generic resource specification: %s", value)
	}
	if n, err := strconv.ParseInt(val, 10, 64); err == nil {
		return swarm.GenericResource{DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: kind, Value: n}}, nil
	}
	return swarm.GenericResource{NamedResourceSpec: &swarm.NamedGenericResource{Kind: kind, Value: val}}, nil
}

// ParseNanoCPUs parses a CPU amount ("0.5", "2") into billionths of a CPU.
func ParseNanoCPUs(value string) (int64, error) {
	cpu, ok := new(big.Rat).SetString(value)
	if !ok {
		return 0, fmt.Errorf("failed to parse %v as a rational number", value)
	}
	nano := cpu.Mul(cpu, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return 0, errors.New("value is too precise")
	}
	if nano.Sign() < 0 {
		return 0, errors.New("value must be positive")
	}
	return nano.Num().Int64(), nil
}

// ParseMemBytes parses a memory amount ("64m", "1g", "1048576") into bytes.
func ParseMemBytes(value string) (int64, error) {
	return units.RAMInBytes(value)
}

// SplitShellWords splits a command line into words as a POSIX shell would,
// honouring single and double quotes and backslashes, without expansion.
func SplitShellWords(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			if quote == '"' && r != '"' && r != '\\' && r != '$' && r != '`' {
				cur.WriteRune('\\')
			}
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if escaped || quote != 0 {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// KVMap turns "key=value" strings into a map; a bare "key" maps to "".
func KVMap(items []string) map[string]string {
	if len(items) == 0 {
		return nil
	}
	m := make(map[string]string, len(items))
	for _, item := range items {
		k, v, _ := strings.Cut(item, "=")
		m[k] = v
	}
	return m
}
