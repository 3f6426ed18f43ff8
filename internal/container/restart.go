package container

import (
	"time"

	containertypes "github.com/moby/moby/api/types/container"
)

// Docker's restart backoff: the first restart after 100 ms, each next one
// after twice the last delay, at most a minute; a run of 10 s or more
// starts the count again.
const (
	firstRestartDelay = 100 * time.Millisecond
	maxRestartDelay   = time.Minute
	resetAfterRun     = 10 * time.Second
)

// Exit is how a run of a container ended, for the restart decisions.
type Exit struct {
	Code int
	Ran  time.Duration // how long the process ran
}

// Restart is what to do after a container's process exited.
type Restart struct {
	Restart bool
	Delay   time.Duration // how long to wait before starting it again
}

// AfterExit decides, as dockerd's restart manager does, whether a
// container whose process just ended is started again by its policy, and
// after how long: never when it was stopped by hand; with always and
// unless-stopped otherwise; with on-failure when the exit code is not 0
// and the maximum retry count (0 for none) is not reached. lastDelay is
// the delay before the run that just ended (0 when it was started by
// hand).
func AfterExit(p containertypes.RestartPolicy, e Exit, manuallyStopped bool, restartCount int, lastDelay time.Duration) Restart {
	if manuallyStopped || !restarts(p, e.Code, restartCount) {
		return Restart{}
	}
	return Restart{Restart: true, Delay: nextDelay(lastDelay, e.Ran)}
}

// restarts is the policy's verdict on an exit, leaving manual stops aside.
func restarts(p containertypes.RestartPolicy, exitCode, restartCount int) bool {
	switch p.Name {
	case containertypes.RestartPolicyAlways, containertypes.RestartPolicyUnlessStopped:
		return true
	case containertypes.RestartPolicyOnFailure:
		return exitCode != 0 && (p.MaximumRetryCount == 0 || restartCount < p.MaximumRetryCount)
	}
	return false
}

func nextDelay(last, ran time.Duration) time.Duration {
	if last == 0 || ran >= resetAfterRun {
		return firstRestartDelay
	}
	return min(2*last, maxRestartDelay)
}

// OnBoot decides whether a daemon that starts up starts a container that
// is not running, as dockerd does when it restores its containers:
// always restarts it even when it was stopped by hand (a daemon restart
// is what brings such a container back); unless-stopped unless it was
// stopped by hand; on-failure when it failed and the retries are not used
// up. A container that never ran stays as it is.
func OnBoot(p containertypes.RestartPolicy, everStarted, manuallyStopped bool, exitCode, restartCount int) bool {
	if !everStarted {
		return false
	}
	switch p.Name {
	case containertypes.RestartPolicyAlways:
		return true
	case containertypes.RestartPolicyUnlessStopped:
		return !manuallyStopped
	case containertypes.RestartPolicyOnFailure:
		return !manuallyStopped && restarts(p, exitCode, restartCount)
	}
	return false
}
