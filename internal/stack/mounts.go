package stack

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/mount"
)

// mounts converts a service's volumes, as the docker CLI does: named
// volumes are the stack's (NAMESPACE_key unless named), created on each
// node by the volume driver with the stack's label.
func (p *Project) mounts(svc types.ServiceConfig) ([]mount.Mount, error) {
	out := make([]mount.Mount, 0, len(svc.Volumes))
	var errs []error
	for i, v := range svc.Volumes {
		m, err := p.mount(v)
		if err != nil {
			errs = append(errs, errField(err, strconv.Itoa(i)))
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

func (p *Project) mount(v types.ServiceVolumeConfig) (mount.Mount, error) {
	m := mount.Mount{
		Type:        mount.Type(v.Type),
		Source:      v.Source,
		Target:      v.Target,
		ReadOnly:    v.ReadOnly,
		Consistency: mount.Consistency(v.Consistency),
	}
	// Each type takes its own options only.
	others := map[string]bool{"bind": v.Bind != nil, "volume": v.Volume != nil, "tmpfs": v.Tmpfs != nil, "image": v.Image != nil}
	typ := v.Type
	if typ == "" {
		typ = types.VolumeTypeVolume
	}
	for _, o := range []string{"bind", "volume", "tmpfs", "image"} {
		if others[o] && o != typ {
			return mount.Mount{}, fmt.Errorf("%s options are incompatible with type %s", o, typ)
		}
	}
	switch typ {
	case types.VolumeTypeVolume:
		m.Type = mount.TypeVolume
		if v.Source == "" {
			return m, nil // anonymous
		}
		vol, ok := p.Volumes[v.Source]
		if !ok {
			return mount.Mount{}, fmt.Errorf("undefined volume %q", v.Source)
		}
		m.Source = p.objectName(v.Source, vol.Name)
		m.VolumeOptions = &mount.VolumeOptions{}
		if v.Volume != nil {
			m.VolumeOptions.NoCopy = v.Volume.NoCopy
			m.VolumeOptions.Subpath = v.Volume.Subpath
		}
		if vol.External {
			return m, nil
		}
		m.VolumeOptions.Labels = p.stackLabels(vol.Labels)
		if vol.Driver != "" || vol.DriverOpts != nil {
			m.VolumeOptions.DriverConfig = &mount.Driver{Name: vol.Driver, Options: vol.DriverOpts}
		}
	case types.VolumeTypeBind:
		if v.Source == "" {
			return mount.Mount{}, errors.New("invalid bind source, source cannot be empty")
		}
		if v.Bind != nil && v.Bind.Propagation != "" {
			m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(v.Bind.Propagation)}
		}
	case types.VolumeTypeTmpfs:
		if v.Source != "" {
			return mount.Mount{}, errors.New("invalid tmpfs source, source must be empty")
		}
		if v.Tmpfs != nil {
			m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: os.FileMode(v.Tmpfs.Mode)}
		}
	case types.VolumeTypeImage:
		if v.Source == "" {
			return mount.Mount{}, errors.New("invalid image source, source cannot be empty")
		}
		if v.Image != nil {
			m.ImageOptions = &mount.ImageOptions{Subpath: v.Image.SubPath}
		}
	default:
		return mount.Mount{}, fmt.Errorf("volume type must be volume, bind, tmpfs or image, got %q", v.Type)
	}
	return m, nil
}
