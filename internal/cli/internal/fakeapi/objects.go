package fakeapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/swarm"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func (s *Server) findNode(ref string) (int, *apiError) {
	if i := slices.IndexFunc(s.Nodes, func(n swarm.Node) bool { return n.ID == ref }); i >= 0 {
		return i, nil
	}
	if i := slices.IndexFunc(s.Nodes, func(n swarm.Node) bool { return n.Description.Hostname == ref || n.Spec.Name == ref }); i >= 0 {
		return i, nil
	}
	if i := slices.IndexFunc(s.Nodes, func(n swarm.Node) bool { return strings.HasPrefix(n.ID, ref) }); i >= 0 {
		return i, nil
	}
	return -1, notFound("node %s not found", ref)
}

func (s *Server) nodeRoute(q request, seg []string) *apiError {
	m := q.r.Method
	switch {
	case len(seg) == 1 && m == http.MethodGet:
		f := filters(q.r.URL.Query())
		out := []swarm.Node{}
		for _, n := range s.Nodes {
			if matchesAny(f["role"], func(v string) bool { return string(n.Spec.Role) == v }) &&
				matchesAny(f["id"], func(v string) bool { return strings.HasPrefix(n.ID, v) }) {
				out = append(out, n)
			}
		}
		return writeJSON(q.w, http.StatusOK, out)
	case len(seg) >= 2:
		i, err := s.findNode(seg[1])
		if err != nil {
			return err
		}
		switch {
		case len(seg) == 2 && m == http.MethodGet:
			return writeJSON(q.w, http.StatusOK, s.Nodes[i])
		case len(seg) == 3 && seg[2] == "update" && m == http.MethodPost:
			var spec swarm.NodeSpec
			if err := q.decode(&spec); err != nil {
				return err
			}
			if q.r.URL.Query().Get("version") != s.Nodes[i].Version.String() {
				return &apiError{http.StatusConflict, "update out of sequence"}
			}
			s.Nodes[i].Spec = spec
			s.Nodes[i].Version.Index++
			q.w.WriteHeader(http.StatusOK)
			return nil
		case len(seg) == 2 && m == http.MethodDelete:
			n := s.Nodes[i]
			if n.Status.State != swarm.NodeStateDown && !boolQuery(q.r.URL.Query(), "force") {
				return invalid("node %s is not down and can't be removed", n.ID)
			}
			s.Nodes = slices.Delete(s.Nodes, i, i+1)
			q.w.WriteHeader(http.StatusOK)
			return nil
		}
	}
	return notFound("page not found")
}

func (s *Server) findService(ref string) (int, *apiError) {
	for _, match := range []func(swarm.Service) bool{
		func(svc swarm.Service) bool { return svc.ID == ref },
		func(svc swarm.Service) bool { return svc.Spec.Name == ref },
		func(svc swarm.Service) bool { return strings.HasPrefix(svc.ID, ref) },
	} {
		if i := slices.IndexFunc(s.Services, match); i >= 0 {
			return i, nil
		}
	}
	return -1, notFound("service %s not found", ref)
}

// serviceStatus counts tasks as the daemon does for GET /services?status=true.
func (s *Server) serviceStatus(svc swarm.Service) *swarm.ServiceStatus {
	st := &swarm.ServiceStatus{}
	nodes := map[string]bool{}
	for _, t := range s.Tasks {
		if t.ServiceID != svc.ID {
			continue
		}
		if t.DesiredState == swarm.TaskStateRunning {
			nodes[t.NodeID] = true
			if t.Status.State == swarm.TaskStateRunning {
				st.RunningTasks++
			}
		}
		if t.Status.State == swarm.TaskStateComplete {
			st.CompletedTasks++
		}
	}
	switch {
	case svc.Spec.Mode.Replicated != nil && svc.Spec.Mode.Replicated.Replicas != nil:
		st.DesiredTasks = *svc.Spec.Mode.Replicated.Replicas
	case svc.Spec.Mode.Global != nil:
		st.DesiredTasks = uint64(len(nodes))
	}
	return st
}

func (s *Server) serviceRoute(q request, seg []string) *apiError {
	m := q.r.Method
	query := q.r.URL.Query()
	switch {
	case len(seg) == 1 && m == http.MethodGet:
		f := filters(query)
		out := []swarm.Service{}
		for _, svc := range s.Services {
			if !matchesAny(f["id"], func(v string) bool { return strings.HasPrefix(svc.ID, v) }) ||
				!matchesAny(f["name"], func(v string) bool { return strings.HasPrefix(svc.Spec.Name, v) }) {
				continue
			}
			svc.ServiceStatus = nil
			if boolQuery(query, "status") {
				svc.ServiceStatus = s.serviceStatus(svc)
			}
			out = append(out, svc)
		}
		return writeJSON(q.w, http.StatusOK, out)
	case len(seg) == 2 && seg[1] == "create" && m == http.MethodPost:
		var spec swarm.ServiceSpec
		if err := q.decode(&spec); err != nil {
			return err
		}
		if spec.Name == "" {
			spec.Name = "svc" + s.NewID("")[:4]
		}
		if slices.ContainsFunc(s.Services, func(svc swarm.Service) bool { return svc.Spec.Name == spec.Name }) {
			return &apiError{http.StatusConflict, "rpc error: code = AlreadyExists desc = name conflicts with an existing object"}
		}
		svc := swarm.Service{ID: s.NewID("svc"), Meta: swarm.Meta{Version: swarm.Version{Index: 1}, CreatedAt: s.Now, UpdatedAt: s.Now}, Spec: spec}
		if spec.EndpointSpec != nil {
			svc.Endpoint = swarm.Endpoint{Spec: *spec.EndpointSpec, Ports: spec.EndpointSpec.Ports}
		}
		s.Services = append(s.Services, svc)
		return writeJSON(q.w, http.StatusCreated, swarm.ServiceCreateResponse{ID: svc.ID})
	case len(seg) >= 2:
		i, err := s.findService(seg[1])
		if err != nil {
			return err
		}
		svc := &s.Services[i]
		switch {
		case len(seg) == 2 && m == http.MethodGet:
			return writeJSON(q.w, http.StatusOK, *svc)
		case len(seg) == 2 && m == http.MethodDelete:
			s.Services = slices.Delete(s.Services, i, i+1)
			q.w.WriteHeader(http.StatusOK)
			return nil
		case len(seg) == 3 && seg[2] == "update" && m == http.MethodPost:
			var spec swarm.ServiceSpec
			if err := q.decode(&spec); err != nil {
				return err
			}
			if query.Get("version") != svc.Version.String() {
				return &apiError{http.StatusConflict, "rpc error: code = Unknown desc = update out of sequence"}
			}
			if query.Get("rollback") == "previous" {
				if svc.PreviousSpec == nil {
					return invalid("service %s does not have a previous spec", svc.ID)
				}
				svc.Spec, svc.PreviousSpec = *svc.PreviousSpec, &svc.Spec
			} else {
				prev := svc.Spec
				svc.PreviousSpec, svc.Spec = &prev, spec
			}
			svc.Version.Index++
			svc.UpdatedAt = s.Now
			return writeJSON(q.w, http.StatusOK, swarm.ServiceUpdateResponse{})
		case len(seg) == 3 && seg[2] == "logs" && m == http.MethodGet:
			q.w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
			q.w.WriteHeader(http.StatusOK)
			return nil
		}
	}
	return notFound("page not found")
}

// upToDate says whether a task runs its service's current spec, which the
// daemon tells by versions.
func (s *Server) upToDate(t swarm.Task) bool {
	i := slices.IndexFunc(s.Services, func(svc swarm.Service) bool { return svc.ID == t.ServiceID })
	return i >= 0 && t.Version.Index == s.Services[i].Version.Index
}

func (s *Server) taskRoute(q request, seg []string) *apiError {
	m := q.r.Method
	switch {
	case len(seg) == 1 && m == http.MethodGet:
		if s.BeforeTasks != nil {
			s.BeforeTasks(s)
		}
		f := filters(q.r.URL.Query())
		out := []swarm.Task{}
		for _, t := range s.Tasks {
			if matchesAny(f["service"], func(v string) bool { return t.ServiceID == v }) &&
				matchesAny(f["node"], func(v string) bool { return t.NodeID == v }) &&
				matchesAny(f["id"], func(v string) bool { return strings.HasPrefix(t.ID, v) }) &&
				matchesAny(f["desired-state"], func(v string) bool { return string(t.DesiredState) == v }) &&
				(len(f["_up-to-date"]) == 0 || s.upToDate(t)) {
				out = append(out, t)
			}
		}
		return writeJSON(q.w, http.StatusOK, out)
	case len(seg) >= 2:
		i := slices.IndexFunc(s.Tasks, func(t swarm.Task) bool { return t.ID == seg[1] })
		if i < 0 {
			i = slices.IndexFunc(s.Tasks, func(t swarm.Task) bool { return strings.HasPrefix(t.ID, seg[1]) })
		}
		if i < 0 {
			return notFound("task %s not found", seg[1])
		}
		switch {
		case len(seg) == 2 && m == http.MethodGet:
			return writeJSON(q.w, http.StatusOK, s.Tasks[i])
		case len(seg) == 3 && seg[2] == "logs" && m == http.MethodGet:
			q.w.WriteHeader(http.StatusOK)
			return nil
		}
	}
	return notFound("page not found")
}

// TestDigest is the digest the fake's registry reports for every image.
const TestDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func (s *Server) findImage(ref string) int {
	ref = strings.TrimPrefix(ref, "docker.io/library/")
	return slices.IndexFunc(s.Images, func(img image.Summary) bool {
		return img.ID == ref || strings.HasPrefix(strings.TrimPrefix(img.ID, "sha256:"), ref) ||
			slices.Contains(img.RepoTags, ref) || slices.Contains(img.RepoTags, ref+":latest")
	})
}

func (s *Server) imageRoute(q request, seg []string) *apiError {
	m := q.r.Method
	rest := strings.TrimPrefix(strings.TrimPrefix(q.path, "/images/"), "/distribution/")
	switch {
	case seg[0] == "distribution" && m == http.MethodGet:
		return writeJSON(q.w, http.StatusOK, map[string]any{
			"Descriptor": ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: TestDigest, Size: 1},
			"Platforms":  []ocispec.Platform{{OS: "linux", Architecture: "amd64"}},
		})
	case q.path == "/images/json" && m == http.MethodGet:
		return writeJSON(q.w, http.StatusOK, s.Images)
	case q.path == "/images/create" && m == http.MethodPost:
		query := q.r.URL.Query()
		if query.Get("fromSrc") != "" {
			return writeJSON(q.w, http.StatusOK, map[string]string{"status": "sha256:" + strings.Repeat("a", 64)})
		}
		name := query.Get("fromImage") + ":" + query.Get("tag")
		q.w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(q.w)
		_ = enc.Encode(map[string]string{"status": "Pulling from " + query.Get("fromImage"), "id": query.Get("tag")})
		_ = enc.Encode(map[string]string{"status": "Digest: " + TestDigest})
		_ = enc.Encode(map[string]string{"status": "Status: Downloaded newer image for " + name})
		return nil
	case q.path == "/images/load" && m == http.MethodPost:
		return writeJSON(q.w, http.StatusOK, map[string]string{"stream": "Loaded image: busybox:latest\n"})
	case strings.HasSuffix(rest, "/json") && m == http.MethodGet:
		i := s.findImage(strings.TrimSuffix(rest, "/json"))
		if i < 0 {
			return notFound("No such image: %s", strings.TrimSuffix(rest, "/json"))
		}
		img := s.Images[i]
		return writeJSON(q.w, http.StatusOK, image.InspectResponse{ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Size: img.Size})
	case strings.HasSuffix(rest, "/tag") && m == http.MethodPost:
		i := s.findImage(strings.TrimSuffix(rest, "/tag"))
		if i < 0 {
			return notFound("No such image: %s", strings.TrimSuffix(rest, "/tag"))
		}
		query := q.r.URL.Query()
		s.Images[i].RepoTags = append(s.Images[i].RepoTags, query.Get("repo")+":"+query.Get("tag"))
		q.w.WriteHeader(http.StatusCreated)
		return nil
	case m == http.MethodDelete:
		i := s.findImage(rest)
		if i < 0 {
			return notFound("No such image: %s", rest)
		}
		img := s.Images[i]
		s.Images = slices.Delete(s.Images, i, i+1)
		return writeJSON(q.w, http.StatusOK, []image.DeleteResponse{{Untagged: rest}, {Deleted: img.ID}})
	}
	return notFound("page not found")
}
