package images

import (
	"encoding/json"
	"slices"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// applyChanges applies Dockerfile instructions given to docker import
// --change (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME,
// STOPSIGNAL) to cfg.
func applyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	for _, change := range changes {
		change = strings.TrimSpace(change)
		if change == "" {
			continue
		}
		instr, rest, _ := strings.Cut(change, " ")
		rest = strings.TrimSpace(rest)
		if err := applyChange(cfg, strings.ToUpper(instr), rest); err != nil {
			return errdefs.Invalid("invalid change %q: %w", change, err)
		}
	}
	return nil
}

func applyChange(cfg *dockerspec.DockerOCIImageConfig, instr, rest string) error {
	if rest == "" {
		return errdefs.Invalid("%s needs an argument", instr)
	}
	switch instr {
	case "CMD":
		args, err := commandForm(rest)
		cfg.Cmd = args
		return err
	case "ENTRYPOINT":
		args, err := commandForm(rest)
		cfg.Entrypoint = args
		return err
	case "ENV":
		pairs, err := keyValues(rest)
		if err != nil {
			return err
		}
		for _, kv := range pairs {
			cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
		}
	case "LABEL":
		pairs, err := keyValues(rest)
		if err != nil {
			return err
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range pairs {
			cfg.Labels[kv[0]] = kv[1]
		}
	case "WORKDIR":
		cfg.WorkingDir = rest
	case "USER":
		cfg.User = rest
	case "STOPSIGNAL":
		cfg.StopSignal = rest
	case "EXPOSE":
		words, err := splitWords(rest)
		if err != nil {
			return err
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range words {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.ExposedPorts[p] = struct{}{}
		}
	case "VOLUME":
		paths, err := listForm(rest)
		if err != nil {
			return err
		}
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, p := range paths {
			cfg.Volumes[p] = struct{}{}
		}
	default:
		return errdefs.Invalid("%s is not a valid change command", instr)
	}
	return nil
}

// commandForm parses CMD or ENTRYPOINT: the JSON exec form, or the shell
// form run by /bin/sh -c.
func commandForm(s string) ([]string, error) {
	if strings.HasPrefix(s, "[") {
		var args []string
		if err := json.Unmarshal([]byte(s), &args); err != nil {
			return nil, errdefs.Invalid("not a JSON array of strings: %w", err)
		}
		return args, nil
	}
	return []string{"/bin/sh", "-c", s}, nil
}

// listForm parses a JSON array or space-separated words.
func listForm(s string) ([]string, error) {
	if strings.HasPrefix(s, "[") {
		var list []string
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, errdefs.Invalid("not a JSON array of strings: %w", err)
		}
		return list, nil
	}
	return splitWords(s)
}

// keyValues parses "k=v k2='v 2'" or the legacy single "key value with
// spaces".
func keyValues(s string) ([][2]string, error) {
	words, err := splitWords(s)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(words[0], "=") {
		key, value, _ := strings.Cut(s, " ")
		return [][2]string{{key, strings.TrimSpace(value)}}, nil
	}
	var pairs [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, errdefs.Invalid("%q is not KEY=VALUE", w)
		}
		pairs = append(pairs, [2]string{k, v})
	}
	return pairs, nil
}

// splitWords splits s at unquoted blanks, removing quotes and backslash
// escapes as a Dockerfile does.
func splitWords(s string) ([]string, error) {
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
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
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
	if quote != 0 || escaped {
		return nil, errdefs.Invalid("unterminated quote or escape")
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errdefs.Invalid("no words")
	}
	return words, nil
}

// setEnv sets key in env, replacing an earlier value.
func setEnv(env []string, key, value string) []string {
	env = slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == key
	})
	return append(env, key+"="+value)
}
