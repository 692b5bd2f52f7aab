// Package node is the seller appliance's composition root: it reads the
// node's configuration, builds the meter, the egress policy and both proxy
// front ends, serves the local admin API, and runs them until asked to stop,
// then drains and persists usage.
package node
