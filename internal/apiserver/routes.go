package apiserver

import "github.com/shoal-project/shoal/internal/controlapi"

// routes registers every endpoint. Image names contain slashes, so the
// image and distribution routes take the rest of the path and split off
// the action themselves.
func (s *Server) routes() {
	s.handle("GET /_ping", s.ping)
	s.handle("GET /version", s.version)
	s.handle("GET /info", s.info)
	s.handle("GET /events", s.events)
	s.handle("GET /system/df", s.systemDF)

	s.handle("GET /swarm", s.swarmInspect)
	s.handle("POST /swarm/init", s.swarmInit)
	s.handle("POST /swarm/join", s.swarmJoin)
	s.handle("POST /swarm/leave", s.swarmLeave)
	s.handle("POST /swarm/update", s.swarmUpdate)
	s.handle("GET /swarm/unlockkey", s.swarmUnlockKey)
	s.handle("POST /swarm/unlock", s.swarmUnlock)
	s.handle("GET /shoal/swarm/backup", s.swarmBackup)
	s.handle("POST /shoal/swarm/restore", s.swarmRestore)

	s.handle("GET /nodes", listOf(s, (*controlapi.API).ListNodes))
	s.handle("GET /nodes/{id}", inspectOf(s, (*controlapi.API).GetNode))
	s.handle("POST /nodes/{id}/update", s.nodeUpdate)
	s.handle("DELETE /nodes/{id}", s.nodeRemove)

	s.handle("GET /services", s.serviceList)
	s.handle("POST /services/create", s.serviceCreate)
	s.handle("GET /services/{id}", s.serviceInspect)
	s.handle("POST /services/{id}/update", s.serviceUpdate)
	s.handle("DELETE /services/{id}", s.serviceRemove)
	s.handle("GET /services/{id}/logs", s.serviceLogs)
	s.handle("POST /services/{id}/rebalance", s.serviceRebalance)
	s.handle("POST /services/{id}/canary", s.serviceCanaryUpdate)
	s.handle("GET /services/{id}/canary", s.serviceCanary)
	s.handle("POST /services/{id}/promote", s.servicePromote)

	s.handle("GET /tasks", listOf(s, (*controlapi.API).ListTasks))
	s.handle("GET /tasks/{id}", inspectOf(s, (*controlapi.API).GetTask))
	s.handle("GET /tasks/{id}/logs", s.taskLogs)

	s.handle("GET /secrets", listOf(s, (*controlapi.API).ListSecrets))
	s.handle("POST /secrets/create", s.secretCreate)
	s.handle("GET /secrets/{id}", inspectOf(s, (*controlapi.API).GetSecret))
	s.handle("POST /secrets/{id}/update", s.secretUpdate)
	s.handle("DELETE /secrets/{id}", s.secretRemove)

	s.handle("GET /configs", listOf(s, (*controlapi.API).ListConfigs))
	s.handle("POST /configs/create", s.configCreate)
	s.handle("GET /configs/{id}", inspectOf(s, (*controlapi.API).GetConfig))
	s.handle("POST /configs/{id}/update", s.configUpdate)
	s.handle("DELETE /configs/{id}", s.configRemove)

	s.handle("GET /networks", s.networkList)
	s.handle("POST /networks/create", s.networkCreate)
	s.handle("POST /networks/prune", s.networkPrune)
	s.handle("GET /networks/{id}", s.networkInspect)
	s.handle("DELETE /networks/{id}", s.networkRemove)
	s.handle("POST /networks/{id}/connect", s.networkConnect)
	s.handle("POST /networks/{id}/disconnect", s.networkConnect)

	s.handle("GET /volumes", s.volumeList)
	s.handle("POST /volumes/create", s.volumeCreate)
	s.handle("POST /volumes/prune", s.volumePrune)
	s.handle("GET /volumes/{name}", s.volumeInspect)
	s.handle("DELETE /volumes/{name}", s.volumeRemove)

	s.handle("GET /distribution/{name...}", s.distributionInspect)

	s.handle("GET /containers/json", s.containerList)
	s.handle("POST /containers/create", s.containerCreate)
	s.handle("POST /containers/prune", s.containerPrune)
	s.handle("GET /containers/{id}/json", s.containerInspect)
	s.handle("GET /containers/{id}/logs", s.containerLogs)
	s.handle("GET /containers/{id}/stats", s.containerStats)
	s.handle("GET /containers/{id}/top", s.containerTop)
	s.handle("POST /containers/{id}/start", s.containerStart)
	s.handle("POST /containers/{id}/stop", s.containerStop)
	s.handle("POST /containers/{id}/restart", s.containerRestart)
	s.handle("POST /containers/{id}/kill", s.containerKill)
	s.handle("POST /containers/{id}/pause", s.containerPause)
	s.handle("POST /containers/{id}/unpause", s.containerUnpause)
	s.handle("POST /containers/{id}/wait", s.containerWait)
	s.handle("POST /containers/{id}/attach", s.containerAttach)
	s.handle("POST /containers/{id}/resize", s.containerResize)
	s.handle("POST /containers/{id}/rename", s.containerRename)
	s.handle("POST /containers/{id}/update", s.containerUpdate)
	s.handle("POST /containers/{id}/exec", s.execCreate)
	s.handle("DELETE /containers/{id}", s.containerRemove)
	s.handle("POST /exec/{id}/start", s.execStart)
	s.handle("POST /exec/{id}/resize", s.execResize)
	s.handle("GET /exec/{id}/json", s.execInspect)

	s.handle("GET /images/json", s.imageList)
	s.handle("POST /images/create", s.imageCreate)
	s.handle("POST /images/load", s.imageLoad)
	s.handle("GET /images/{name...}", s.imageInspect)
	s.handle("POST /images/{name...}", s.imageTag)
	s.handle("DELETE /images/{name...}", s.imageRemove)
}
