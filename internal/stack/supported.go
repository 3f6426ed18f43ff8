package stack

import (
	"github.com/compose-spec/compose-go/v2/tree"
)

// serviceKeys are the service attributes a stack converts (or the loader
// consumes: env_file, label_file, extends), relative to services.NAME. Any
// other key of a file is reported as ignored, so a key the compose
// specification gains later is reported until it is wired in here.
// "restart" is absent on purpose: the docker CLI reports it as unsupported
// yet falls back to it for the restart policy, and so does Convert.
var serviceKeys = []string{
	"image", "command", "entrypoint", "hostname", "user", "working_dir",
	"environment", "environment.*", "env_file", "env_file.[].path", "env_file.[].required", "env_file.[].format",
	"labels", "labels.*", "label_file",
	"extends", "extends.file", "extends.service",
	"stop_grace_period", "stop_signal", "init", "read_only", "tty", "stdin_open", "isolation", "oom_score_adj",
	"cap_add", "cap_drop", "sysctls", "sysctls.*",
	"ulimits", "ulimits.*", "ulimits.*.soft", "ulimits.*.hard",
	"dns", "dns_search", "extra_hosts", "extra_hosts.*",
	"logging", "logging.driver", "logging.options", "logging.options.*",
	"healthcheck", "healthcheck.test", "healthcheck.interval", "healthcheck.timeout", "healthcheck.retries",
	"healthcheck.start_period", "healthcheck.start_interval", "healthcheck.disable",
	"ports", "ports.[].target", "ports.[].published", "ports.[].protocol", "ports.[].mode",
	"networks", "networks.*", "networks.*.aliases", "networks.*.driver_opts", "networks.*.driver_opts.*",
	"secrets", "secrets.[].source", "secrets.[].target", "secrets.[].uid", "secrets.[].gid", "secrets.[].mode",
	"configs", "configs.[].source", "configs.[].target", "configs.[].uid", "configs.[].gid", "configs.[].mode",
	"volumes", "volumes.[].type", "volumes.[].source", "volumes.[].target", "volumes.[].read_only", "volumes.[].consistency",
	// The loader sets create_host_path on every bind; a swarm bind needs
	// its source to exist on the node anyway.
	"volumes.[].bind", "volumes.[].bind.propagation", "volumes.[].bind.create_host_path",
	"volumes.[].volume", "volumes.[].volume.nocopy", "volumes.[].volume.subpath",
	"volumes.[].tmpfs", "volumes.[].tmpfs.size", "volumes.[].tmpfs.mode", "volumes.[].image", "volumes.[].image.subpath",
	"depends_on", "depends_on.*", "depends_on.*.condition", "depends_on.*.required", "depends_on.*.restart",
	"deploy", "deploy.mode", "deploy.replicas", "deploy.endpoint_mode", "deploy.labels", "deploy.labels.*",
	"deploy.placement", "deploy.placement.constraints", "deploy.placement.preferences",
	"deploy.placement.preferences.[].spread", "deploy.placement.max_replicas_per_node",
	"deploy.resources", "deploy.resources.limits", "deploy.resources.limits.cpus",
	"deploy.resources.limits.memory", "deploy.resources.limits.pids",
	"deploy.resources.reservations", "deploy.resources.reservations.cpus", "deploy.resources.reservations.memory",
	"deploy.resources.reservations.generic_resources",
	"deploy.resources.reservations.generic_resources.[].discrete_resource_spec",
	"deploy.resources.reservations.generic_resources.[].discrete_resource_spec.kind",
	"deploy.resources.reservations.generic_resources.[].discrete_resource_spec.value",
	"deploy.restart_policy", "deploy.restart_policy.condition", "deploy.restart_policy.delay",
	"deploy.restart_policy.max_attempts", "deploy.restart_policy.window",
	"deploy.update_config", "deploy.update_config.parallelism", "deploy.update_config.delay",
	"deploy.update_config.failure_action", "deploy.update_config.monitor",
	"deploy.update_config.max_failure_ratio", "deploy.update_config.order",
	"deploy.rollback_config", "deploy.rollback_config.parallelism", "deploy.rollback_config.delay",
	"deploy.rollback_config.failure_action", "deploy.rollback_config.monitor",
	"deploy.rollback_config.max_failure_ratio", "deploy.rollback_config.order",
}

// topKeys are the attributes of the file's other sections a stack converts.
var topKeys = []string{
	"version", "include", "services", "services.*",
	"networks", "networks.*", "networks.*.name", "networks.*.driver", "networks.*.driver_opts", "networks.*.driver_opts.*",
	"networks.*.external", "networks.*.external.name", "networks.*.internal", "networks.*.attachable",
	"networks.*.labels", "networks.*.labels.*", "networks.*.ipam", "networks.*.ipam.driver",
	"networks.*.ipam.config", "networks.*.ipam.config.[].subnet",
	"volumes", "volumes.*", "volumes.*.name", "volumes.*.driver", "volumes.*.driver_opts", "volumes.*.driver_opts.*",
	"volumes.*.external", "volumes.*.external.name", "volumes.*.labels", "volumes.*.labels.*",
	"secrets", "secrets.*", "secrets.*.name", "secrets.*.file", "secrets.*.environment", "secrets.*.external",
	"secrets.*.external.name", "secrets.*.labels", "secrets.*.labels.*", "secrets.*.driver",
	"secrets.*.driver_opts", "secrets.*.driver_opts.*", "secrets.*.template_driver",
	"configs", "configs.*", "configs.*.name", "configs.*.file", "configs.*.environment", "configs.*.content",
	"configs.*.external", "configs.*.external.name", "configs.*.labels", "configs.*.labels.*", "configs.*.template_driver",
}

var supportedPaths = func() []tree.Path {
	var paths []tree.Path
	for _, k := range topKeys {
		paths = append(paths, tree.Path(k))
	}
	for _, k := range serviceKeys {
		paths = append(paths, tree.Path("services.*."+k))
	}
	return paths
}()
