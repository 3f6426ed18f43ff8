package container

import (
	containertypes "github.com/moby/moby/api/types/container"

	"github.com/shoal-project/shoal/internal/errdefs"
	"github.com/shoal-project/shoal/internal/executor/containerdexec/jsonlog"
)

// LogRotation is how the container's json-file log rotates, from its
// log options (docker run --log-opt max-size=… max-file=… compress=…),
// or a 400 naming the option and its limit, as dockerd words them.
func LogRotation(host *containertypes.HostConfig) (jsonlog.Rotation, error) {
	rot, err := jsonlog.ParseOptions(host.LogConfig.Config)
	if err != nil {
		return jsonlog.Rotation{}, errdefs.Invalid("HostConfig.LogConfig.Config: %v", err)
	}
	return rot, nil
}
