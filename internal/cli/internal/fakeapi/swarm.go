package fakeapi

import (
	"net/http"

	"github.com/moby/moby/api/types/swarm"
)

func (s *Server) swarmRoute(q request, seg []string) *apiError {
	m := q.r.Method
	sub := ""
	if len(seg) > 1 {
		sub = seg[1]
	}
	switch {
	case m == http.MethodGet && sub == "":
		if s.Swarm.ID == "" {
			return &apiError{http.StatusServiceUnavailable, "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."}
		}
		return writeJSON(q.w, http.StatusOK, s.Swarm)
	case m == http.MethodPost && sub == "init":
		var req swarm.InitRequest
		if err := q.decode(&req); err != nil {
			return err
		}
		if s.Swarm.ID != "" {
			return &apiError{http.StatusServiceUnavailable, "This node is already part of a swarm."}
		}
		nodeID := s.NewID("node")
		s.Swarm = swarm.Swarm{
			ClusterInfo: swarm.ClusterInfo{ID: s.NewID("cluster"), Spec: req.Spec, Meta: swarm.Meta{Version: swarm.Version{Index: 10}}},
			JoinTokens:  swarm.JoinTokens{Worker: "SWMTKN-1-worker", Manager: "SWMTKN-1-manager"},
		}
		s.Swarm.Spec.EncryptionConfig.AutoLockManagers = req.AutoLockManagers
		if req.AutoLockManagers {
			s.UnlockKey = "SWMKEY-1-unlock"
		}
		s.Nodes = append(s.Nodes, swarm.Node{
			ID:            nodeID,
			Spec:          swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive},
			Description:   swarm.NodeDescription{Hostname: "manager1"},
			Status:        swarm.NodeStatus{State: swarm.NodeStateReady, Addr: "10.0.0.1"},
			ManagerStatus: &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: "10.0.0.1:2377"},
		})
		s.Info.Swarm = swarm.Info{NodeID: nodeID, LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true}
		return writeJSON(q.w, http.StatusOK, nodeID)
	case m == http.MethodPost && sub == "join":
		var req swarm.JoinRequest
		if err := q.decode(&req); err != nil {
			return err
		}
		s.Info.Swarm = swarm.Info{NodeID: s.NewID("node"), LocalNodeState: swarm.LocalNodeStateActive}
		q.w.WriteHeader(http.StatusOK)
		return nil
	case m == http.MethodPost && sub == "leave":
		if s.Info.Swarm.ControlAvailable && !boolQuery(q.r.URL.Query(), "force") {
			return &apiError{http.StatusServiceUnavailable, "You are attempting to leave the swarm on a node that is participating as a manager. Use `--force` to ignore this message."}
		}
		s.Info.Swarm = swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}
		s.Swarm = swarm.Swarm{}
		q.w.WriteHeader(http.StatusOK)
		return nil
	case m == http.MethodPost && sub == "update":
		var spec swarm.Spec
		if err := q.decode(&spec); err != nil {
			return err
		}
		query := q.r.URL.Query()
		if query.Get("version") != s.Swarm.Version.String() {
			return &apiError{http.StatusConflict, "update out of sequence"}
		}
		s.Swarm.Spec = spec
		s.Swarm.Version.Index++
		if boolQuery(query, "rotateWorkerToken") {
			s.Swarm.JoinTokens.Worker += "-rotated"
		}
		if boolQuery(query, "rotateManagerToken") {
			s.Swarm.JoinTokens.Manager += "-rotated"
		}
		if boolQuery(query, "rotateManagerUnlockKey") || spec.EncryptionConfig.AutoLockManagers && s.UnlockKey == "" {
			s.UnlockKey = "SWMKEY-1-rotated"
		}
		if !spec.EncryptionConfig.AutoLockManagers {
			s.UnlockKey = ""
		}
		q.w.WriteHeader(http.StatusOK)
		return nil
	case m == http.MethodGet && sub == "unlockkey":
		return writeJSON(q.w, http.StatusOK, swarm.UnlockKeyResponse{UnlockKey: s.UnlockKey})
	case m == http.MethodPost && sub == "unlock":
		var req swarm.UnlockRequest
		if err := q.decode(&req); err != nil {
			return err
		}
		if req.UnlockKey != s.UnlockKey {
			return invalid("invalid key")
		}
		s.Info.Swarm.LocalNodeState = swarm.LocalNodeStateActive
		q.w.WriteHeader(http.StatusOK)
		return nil
	}
	return notFound("page not found")
}
