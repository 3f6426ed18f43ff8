package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoal-project/shoal/internal/ui/browsertest"
)

// TestUI drives the web UI of a local cluster's manager (--ui-addr on
// every host, a manager and a worker) in headless chromium: it asks for
// the token the daemon logged, shows both nodes with their tasks, shows a
// scale made with the docker CLI without a reload, and a drain clicked in
// the page moves the worker's tasks to the manager. Screenshots of each
// step are kept (browsertest.ArtifactsDir).
func TestUI(t *testing.T) {
	ctx := browsertest.Start(t)
	art := browsertest.ArtifactsDir(t, "ui-e2e")
	_, hosts := startLocalCluster(t, 1, 1, "--ui-addr", "0.0.0.0:9090")
	m, w := hosts[0], hosts[1]
	m.Docker("service", "create", "-d", "--no-resolve-image", "--name", "web", "--replicas", "4", "busybox", "sleep", "3600")

	var link [][]byte
	Eventually(t, 20*time.Second, func() string {
		log, err := os.ReadFile(filepath.Join(m.DataRoot, "daemon.log"))
		if err != nil {
			return err.Error()
		}
		if link = regexp.MustCompile(`web UI: open http://[^/]+(/\?token=\w+)`).FindSubmatch(log); link == nil {
			return "the manager logged no UI URL with a token"
		}
		return ""
	})
	base := "http://" + net.JoinHostPort(m.Addr.String(), "9090") + "/"
	withToken := base + strings.TrimPrefix(string(link[1]), "/")

	// Without the token: refused.
	if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(ctx, `document.body.innerText.includes('Shoal UI: open the URL with the token')`, 10*time.Second); err != nil {
		t.Fatalf("the UI answered without its token: %v", err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(withToken)); err != nil {
		t.Fatal(err)
	}
	managerID := strings.TrimSpace(m.Docker("node", "inspect", "self", "--format", "{{.ID}}"))
	workerID := strings.TrimSpace(m.Docker("node", "inspect", w.Name, "--format", "{{.ID}}"))
	// running counts web's running cards in a node's column (all columns
	// for "").
	running := func(node string) string {
		sel := `section[data-node]`
		if node != "" {
			sel = fmt.Sprintf(`section[data-node="%s"]`, node)
		}
		return fmt.Sprintf(`document.querySelectorAll('%s [data-service="web"][data-state="running"]').length`, sel)
	}
	// The spread puts tasks on both nodes.
	if err := browsertest.WaitFor(ctx, `document.querySelectorAll('section[data-node]:not([data-node=""])').length === 2 && `+
		running("")+` === 4 && `+running(managerID)+` > 0 && `+running(workerID)+` > 0`, 60*time.Second); err != nil {
		t.Fatalf("the board never showed both nodes with web's 4 running tasks on both: %v", err)
	}
	browsertest.Screenshot(t, ctx, art, "board")

	t0 := time.Now()
	m.Docker("service", "scale", "--detach", "web=6")
	if err := browsertest.WaitFor(ctx, `document.querySelectorAll('section[data-node] [data-service="web"]').length === 6`, 30*time.Second); err != nil {
		t.Fatalf("the scale never showed: %v", err)
	}
	t.Logf("measure: docker service scale to 6 cards shown: %v", time.Since(t0).Round(time.Millisecond))
	if err := browsertest.WaitFor(ctx, running("")+` === 6`, 60*time.Second); err != nil {
		t.Fatalf("the new tasks never showed running: %v", err)
	}
	t.Logf("measure: docker service scale to 6 running shown: %v", time.Since(t0).Round(time.Millisecond))
	browsertest.Screenshot(t, ctx, art, "board-scaled")

	for _, v := range []struct{ hash, ready, name string }{
		{"#/services", `document.querySelector('[data-service-row="web"] [data-replicas]')?.textContent === '6/6'`, "services"},
		{"#/events", `document.querySelectorAll('[data-event]').length > 0 || !!document.querySelector('.notice')`, "events"},
		{"#/topology", `!!document.querySelector('.topology')`, "zones"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+v.hash)); err != nil {
			t.Fatal(err)
		}
		if err := browsertest.WaitFor(ctx, v.ready, 15*time.Second); err != nil {
			t.Fatalf("view %s never got ready: %v", v.hash, err)
		}
		browsertest.Screenshot(t, ctx, art, v.name)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/node/"+workerID)); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(ctx, `!!document.querySelector('[data-node-detail] [data-action=drain]:not([disabled])')`, 15*time.Second); err != nil {
		t.Fatalf("the worker's page has no drain button: %v", err)
	}
	browsertest.Screenshot(t, ctx, art, "node")
	if err := chromedp.Do(ctx, chromedp.Click(`[data-node-detail] [data-action=drain]`)); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 15*time.Second, func() string {
		if got := strings.TrimSpace(m.Docker("node", "inspect", w.Name, "--format", "{{.Spec.Availability}}")); got != "drain" {
			return "availability " + got
		}
		return ""
	})
	// The worker drained: all six run on the manager, none on the worker.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/")); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(ctx, running(managerID)+` === 6 && `+running(workerID)+` === 0`, 60*time.Second); err != nil {
		t.Fatalf("the drain never showed web's tasks moved to the manager: %v", err)
	}
	browsertest.Screenshot(t, ctx, art, "board-drained")
}
