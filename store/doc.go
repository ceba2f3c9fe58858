// Package store defines the seam between Gantry and the durable stores that
// hold its jobs: the Job record every store keeps, the Driver interface every
// store implements, and the errors callers branch on.
//
// Drivers live in their own packages (store/embedded, the default, and
// store/postgres) and all pass the conformance suite in store/storetest.
package store
