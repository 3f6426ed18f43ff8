package e2e

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoal-project/shoal/internal/testutil/testimage"
	"github.com/shoal-project/shoal/internal/ui/browsertest"
)

// TestUI drives the web UI of a real daemon (--ui-addr) in headless
// chromium: it asks for the token the daemon logged, shows the node with
// its tasks, shows a scale made with the docker CLI without a reload,
// and a drain clicked in the page drains the node, its tasks then
// pending with the scheduler's why. Screenshots of each step are kept
// (browsertest.ArtifactsDir).
func TestUI(t *testing.T) {
	ctx := browsertest.Start(t)
	art := browsertest.ArtifactsDir(t, "ui-e2e")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := StartDaemon(t, "--ui-addr", addr)
	initSwarm(t, d)
	d.Docker("import", testimage.RootfsTar(t), "busybox:latest")
	d.Docker("service", "create", "-d", "--no-resolve-image", "--name", "web", "--replicas", "2", "busybox", "sleep", "3600")

	log, err := os.ReadFile(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`web UI: open (http://\S+\?token=\w+)`).FindSubmatch(log)
	if link == nil {
		t.Fatalf("the daemon logged no UI URL with a token:\n%s", log)
	}
	base := strings.SplitN(string(link[1]), "?", 2)[0]

	// Without the token: refused.
	if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(ctx, `document.body.innerText.includes('Shoal UI: open the URL with the token')`, 10*time.Second); err != nil {
		t.Fatalf("the UI answered without its token: %v", err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(string(link[1]))); err != nil {
		t.Fatal(err)
	}
	running := func(n int) string {
		return fmt.Sprintf(`document.querySelectorAll('section[data-node] [data-service="web"][data-state="running"]').length === %d`, n)
	}
	if err := browsertest.WaitFor(ctx, `document.querySelectorAll('section[data-node]').length === 1 && `+running(2), 60*time.Second); err != nil {
		t.Fatalf("the board never showed the node with web's 2 running tasks: %v", err)
	}
	browsertest.Screenshot(t, ctx, art, "board")

	t0 := time.Now()
	d.Docker("service", "scale", "--detach", "web=4")
	if err := browsertest.WaitFor(ctx, `document.querySelectorAll('section[data-node] [data-service="web"]').length === 4`, 30*time.Second); err != nil {
		t.Fatalf("the scale never showed: %v", err)
	}
	t.Logf("measure: docker service scale to 4 cards shown: %v", time.Since(t0).Round(time.Millisecond))
	if err := browsertest.WaitFor(ctx, running(4), 60*time.Second); err != nil {
		t.Fatalf("the new tasks never showed running: %v", err)
	}
	t.Logf("measure: docker service scale to 4 running shown: %v", time.Since(t0).Round(time.Millisecond))
	browsertest.Screenshot(t, ctx, art, "board-scaled")

	for _, v := range []struct{ hash, ready, name string }{
		{"#/services", `document.querySelector('[data-service-row="web"] [data-replicas]')?.textContent === '4/4'`, "services"},
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

	nodeID := strings.TrimSpace(d.Docker("node", "inspect", "self", "--format", "{{.ID}}"))
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/node/"+nodeID)); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(ctx, `!!document.querySelector('[data-node-detail] [data-action=drain]:not([disabled])')`, 15*time.Second); err != nil {
		t.Fatalf("the node's page has no drain button: %v", err)
	}
	browsertest.Screenshot(t, ctx, art, "node")
	if err := chromedp.Do(ctx, chromedp.Click(`[data-node-detail] [data-action=drain]`)); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 15*time.Second, func() string {
		if got := strings.TrimSpace(d.Docker("node", "inspect", "self", "--format", "{{.Spec.Availability}}")); got != "drain" {
			return "availability " + got
		}
		return ""
	})
	// The only node drained, web's tasks wait with the scheduler's why.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"#/")); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.WaitFor(ctx, `document.querySelectorAll('section.unassigned [data-service="web"] .card-why').length === 4`, 60*time.Second); err != nil {
		t.Fatalf("web's tasks never showed pending with why: %v", err)
	}
	browsertest.Screenshot(t, ctx, art, "board-drained")
}
