/*  =========================================================================
    ih_tkfleet - a fleet of real agents under test load

    What the chaos and partition integration tests share: N sites (keys in
    the test's directory, entries in its registry), one real incuhub-agent
    per site on its own outbox (outbox-<a>) and listen socket
    (ipc://<dir>/agent-<a>.sock), and one publisher per agent. A publisher
    is either the test's own DEALER on the agent's listen socket, pipelined
    (up to `window` requests in flight) and paced by the caller, or, for a
    site marked with ih_tkfleet_set_cli, successive `incuhub publish` runs
    of `chunk` JSON lines each. Every CONFIRM is recorded as per-site
    sequence -> n, where n numbers the site's payloads and the payload's
    unique id is (a + 1) * 1000000 + n.

    Data flow: test -> publisher -> agent (outbox) -> hub -> log; at the
    end ih_tkfleet_verify reads the log back and holds it against what was
    confirmed. The fleet does not own the hub: the test starts, kills and
    stops it, and tells each agent which ingest endpoint to use.

    Every wait is for a condition with a deadline; a missed deadline or a
    broken invariant fails the test (IH_CHECK).
    =========================================================================*/
#ifndef IH_TKFLEET_H_INCLUDED
#define IH_TKFLEET_H_INCLUDED

#include <jansson.h>
#include "ih_testkit.h"

typedef struct _ih_tkfleet_t ih_tkfleet_t;

//  What the log holds against what the publishers were told.
typedef struct {
    uint64_t confirmed;          //  CONFIRMs received, all sites
    uint64_t lost;               //  confirmed (site, seq) not in the log
                                 //  with its payload id
    uint64_t unconfirmed_stored; //  in the log, never confirmed
    uint64_t duplicates;         //  a payload id stored more than once
    uint64_t foreign;            //  events of sites the fleet does not know
                                 //  (the kit bureau's registry events are
                                 //  expected and not counted)
    uint64_t abandoned;          //  in flight at agent kills, all sites
} ih_tkfleet_figures_t;

//  Creates size sites named "<districts[a]>-inc-<a+1, 2 digits>" in dir
//  and registry (agents not started yet). window: requests in flight per
//  DEALER publisher; max: payloads per publisher, hard cap.
ih_tkfleet_t *ih_tkfleet_new (const char *dir, const char *registry,
                              const char *const *districts, int size,
                              size_t window, uint64_t max);
//  Frees the fleet; kills agents still running (see ih_tkfleet_stop).
void ih_tkfleet_destroy (ih_tkfleet_t **self_p);

//  Feeds site a by `incuhub publish` runs of chunk lines instead of a
//  DEALER. Call before the agent starts.
void ih_tkfleet_set_cli (ih_tkfleet_t *self, int a, int chunk);

//  Starts agent a forwarding to hub, waits for its ready line and (unless
//  CLI-fed) connects a fresh DEALER publisher with nothing in flight.
void ih_tkfleet_agent_start (ih_tkfleet_t *self, int a, const char *hub);
//  SIGKILLs agent a (checks that it died of it) and closes its DEALER;
//  its requests in flight are counted as abandoned.
void ih_tkfleet_agent_kill (ih_tkfleet_t *self, int a);

//  One round of load: every publisher sends (or starts a CLI run) up to
//  `allowed` payloads in all, then waits up to 5 ms for CONFIRMs and
//  records them. Fails if a publisher waiting for CONFIRMs got none for
//  15 s.
void ih_tkfleet_pump (ih_tkfleet_t *self, uint64_t allowed);
//  Stops publishing: collects every request still in flight (60 s).
void ih_tkfleet_finish (ih_tkfleet_t *self);
//  Waits (60 s) until every agent reports backlog 0, nothing in flight,
//  connected, and acked == next_seq - 1.
void ih_tkfleet_drain (ih_tkfleet_t *self);
//  Reads the log in data and fills *figures; prints up to 10 "lost:" lines
//  to stderr. Checks every event decodes and carries an id and sequence
//  of its site's range.
void ih_tkfleet_verify (ih_tkfleet_t *self, const char *data,
                        ih_tkfleet_figures_t *figures);
//  The end of a run under load: stops publishing (ih_tkfleet_finish),
//  drains the agents (ih_tkfleet_drain) and reads the log in data back
//  into *figures (ih_tkfleet_verify). Returns the drain's time in ms.
int64_t ih_tkfleet_settle (ih_tkfleet_t *self, const char *data,
                           ih_tkfleet_figures_t *figures);
//  The verdict on a settled run; fails unless nothing confirmed was lost,
//  no payload was stored twice, no event of an unknown site is in the log,
//  no more events were stored unconfirmed than were in flight at agent
//  kills (so none if no agent was killed), the per-site chains are whole
//  (ih_tk_log_check) with exactly the confirmed events and those, and
//  `incuhub audit` on data and registry passes. The messages name seed.
//  Returns the events in the log.
uint64_t ih_tkfleet_conclude (ih_tkfleet_t *self,
                              const ih_tkfleet_figures_t *figures,
                              uint64_t seed, const char *data,
                              const char *registry);
//  Closes the DEALERs and SIGTERMs every agent (checks exit 0).
void ih_tkfleet_stop (ih_tkfleet_t *self);

//  STATUS of agent a as a JSON object (caller decrefs).
json_t *ih_tkfleet_status (ih_tkfleet_t *self, int a);
//  An integer field of a STATUS object.
json_int_t ih_tkfleet_status_int (json_t *status, const char *field);

//  The chaos schedule's PRNG (splitmix64: its whole state is the seed, so
//  a schedule replays from the printed number). Seeds from IH_CHAOS_SEED
//  if set, else from time and pid; prints "<test>: seed=N (replay:
//  IH_CHAOS_SEED=N)" and returns N.
uint64_t ih_tkfleet_seed (ih_tkfleet_t *self, const char *test);
//  The next number of the schedule.
uint64_t ih_tkfleet_rand (ih_tkfleet_t *self);
//  A number of the schedule in [low, high].
int64_t ih_tkfleet_between (ih_tkfleet_t *self, int64_t low, int64_t high);

//  Accessors for agent a.
const char *ih_tkfleet_site (ih_tkfleet_t *self, int a);
const char *ih_tkfleet_listen (ih_tkfleet_t *self, int a);
ih_proc_t *ih_tkfleet_agent (ih_tkfleet_t *self, int a);
//  CONFIRMs received by publisher a so far.
uint64_t ih_tkfleet_confirmed (ih_tkfleet_t *self, int a);
//  Requests of publisher a abandoned at kills so far.
uint64_t ih_tkfleet_abandoned (ih_tkfleet_t *self, int a);

//  Self test of the pure parts (no daemons).
void ih_tkfleet_test (bool verbose);

#endif
