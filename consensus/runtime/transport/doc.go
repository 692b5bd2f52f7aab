// Package transport carries PBFT messages between the replicas of a shard
// and its clients over QUIC, mutually authenticated by ed25519 keys (see
// internal/quicnet): a replica knows its peers by their genesis keys, and a
// client is known by its TLS key, which is the pbft.ClientID of its
// requests — or, on a client stream (StreamClients), by the identities the
// stream's first frame attaches, each with its signature over the
// replica's and the connection's keys, so one connection carries many
// identities' requests and replies.
//
// An Endpoint owns one UDP socket and its QUIC transport, optionally behind
// a Lossy wrapper that delays and drops datagrams in user space (for
// benchmarks on a kernel without netem). On it, a Server accepts replica
// and client connections and a Link keeps one reconnecting outgoing
// connection to one peer. Every connection carries one long-lived stream of
// length-prefixed frames, each the pbft.Encode of one message, or, from a
// replica to a client connection, a reply group (pbft.EncodeReplyGroup:
// the replies of one batch to that connection's identities, under their
// one signature); a separate short stream answers status queries.
package transport
