// Package scheduler places tasks on nodes. Decide is a pure function over a
// store snapshot: it runs each pending task through a chain of filters
// (cheap ones first, each able to explain its refusals), ranks the nodes
// that pass by spread preferences and load, and returns the assignments and
// the reasons for what could not be placed. The Scheduler runner applies
// them in one store update per pass.
package scheduler
