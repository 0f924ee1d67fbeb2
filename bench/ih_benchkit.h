/*  =========================================================================
    ih_benchkit - the machinery the benchmarks share, written once

    Where it sits: between the benchmark programs (bench/ih_bench_*.c) and
    the integration-test kit (tests/ih_testkit.h, which it builds on). A
    benchmark starts a real incuhubd on a data directory on the disk under
    test, drives it from in front like agents do, reads its STATUS, and
    reports medians of ratios across alternating runs; everything here is
    one of those steps. What is particular to one benchmark (subscribers
    that misbehave, crashes and restarts, replay clients) stays in it.

    The pieces:
      - options and set-up: decimal int parsing, the default data root
        ($IH_BENCH_DIR or IH_BENCH_DATA, a directory under the build
        directory, never /tmp, which may be tmpfs where fsync is free), a
        fresh data root made with mkdtemp, rm -rf of what we made;
      - the machine: CPU, kernel and the data filesystem's name, with a
        warning when it is a memory filesystem;
      - the hub (ih_benchkit_hub_t): incuhubd spawned on ipc:// endpoints
        in the work directory, its ready line, its STATUS, stop and kill;
      - the fleet (ih_benchkit_fleet_t): K sites, each with N events
        signed up front, before any timing;
      - the senders (ih_benchkit_senders_t): one thread per fleet site,
        each its own DEALER with a window of events in flight, ACKs
        checked in order, all released together by a barrier once every
        DEALER has done a STATUS round trip; timed from the first send of
        any sender to the last ACK of any sender;
      - statistics: median (and max) of a set of values.

    Failures go through IH_CHECK (prints why, kills children, exits 1):
    a benchmark run is either entirely right or it fails. Nothing here
    asserts anything about timing.

    Threads: call zsys_init () in the main thread before creating senders
    (zsys_init is not thread-safe); everything else is for the main thread,
    except what the senders' threads do inside this module.
    =========================================================================*/
#ifndef IH_BENCHKIT_H_INCLUDED
#define IH_BENCHKIT_H_INCLUDED

#include "ih_testkit.h"

//  Exit status for a bad command line, as all benchmarks use it.
#define IH_BENCHKIT_EXIT_USAGE 2
//  Most sites a fleet (and so a senders set) may have.
#define IH_BENCHKIT_MAX_SITES 64

//  ---------------------------------------------------------------------
//  Options and set-up

//  Nanoseconds on a monotonic clock.
int64_t ih_benchkit_now_ns (void);

//  Parses a decimal int in [min, max] into *value_p. Returns 0, or -1
//  (and leaves *value_p alone) if text is not exactly such a number.
int ih_benchkit_parse_int (const char *text, int min, int max, int *value_p);

//  The default root for data directories: $IH_BENCH_DIR if set and not
//  empty, else the compiled-in IH_BENCH_DATA. Borrowed.
const char *ih_benchkit_default_root (void);

//  Creates root if missing, then a fresh directory "root/prefix-XXXXXX"
//  in it, written into path (size bytes). Fails the run on error.
void ih_benchkit_make_data_root (const char *root, const char *prefix,
                                 char *path, size_t size);

//  Removes a directory tree we made (files and folders only).
void ih_benchkit_rmrf (const char *path);

//  ---------------------------------------------------------------------
//  The machine

//  Name of the filesystem holding path, from statfs f_type ("ext2/3/4",
//  "tmpfs", ...; "f_type 0x..." if unknown). Borrowed; valid until the
//  next call.
const char *ih_benchkit_fs_name (const char *path);

//  "  WARNING: memory filesystem, fsync is free" for a memory filesystem
//  name as ih_benchkit_fs_name returns it, else "".
const char *ih_benchkit_fs_warning (const char *fs);

//  Prints two lines: "machine: nproc N, cpu MODEL, kernel SYS RELEASE"
//  and "data:    DIR (FS)" with the memory filesystem warning if any.
void ih_benchkit_print_machine (const char *data_root);

//  ---------------------------------------------------------------------
//  The hub

//  Asks the hub at endpoint for its STATUS and returns one integer field;
//  fails the run if there is no reply or no such field.
uint64_t ih_benchkit_status_field (const char *endpoint, const char *field);

typedef struct _ih_benchkit_hub_t ih_benchkit_hub_t;

//  Spawns incuhubd on data and registry, binding ingest and pub on
//  "ipc://work/ingest-TAG.sock" and "ipc://work/pub-TAG.sock" (without
//  "-TAG" if tag is NULL, so a restart can reuse the same endpoints).
//  extra is a NULL-terminated list of more daemon arguments, or NULL. Does
//  not wait for the hub to be ready. Stdout and stderr go to files in
//  work. Fails the run if it cannot spawn.
ih_benchkit_hub_t *ih_benchkit_hub_new (const char *work, const char *data,
                                        const char *registry, const char *tag,
                                        const char *const *extra);

//  SIGKILLs the hub if it still runs, reaps it, frees; sets *self_p to
//  NULL; safe to call twice.
void ih_benchkit_hub_destroy (ih_benchkit_hub_t **self_p);

//  Waits up to timeout_ms for the hub's "incuhubd: ready" line and takes
//  its ingest= and pub= endpoints; fails the run otherwise.
void ih_benchkit_hub_wait_ready (ih_benchkit_hub_t *self, int timeout_ms);

//  True once the hub's stdout holds its complete ready line. Does not
//  wait: for callers that poll other sockets in between.
bool ih_benchkit_hub_ready_seen (ih_benchkit_hub_t *self);

//  The hub's ingest and pub endpoints: as its ready line gave them once
//  ih_benchkit_hub_wait_ready has returned, else as asked. Borrowed;
//  valid until destroy.
const char *ih_benchkit_hub_ingest (ih_benchkit_hub_t *self);
const char *ih_benchkit_hub_pub (ih_benchkit_hub_t *self);

//  The running process (for ih_proc_alive, ih_proc_stderr). Borrowed.
ih_proc_t *ih_benchkit_hub_proc (ih_benchkit_hub_t *self);

//  Monotonic nanoseconds taken just before the spawn.
int64_t ih_benchkit_hub_spawned_ns (ih_benchkit_hub_t *self);

//  Sends sig (SIGTERM for a clean stop, SIGKILL for a crash) and waits up
//  to timeout_ms for the exit. Returns the exit status (0 clean, 128+sig
//  if killed) or -1 at the deadline; the caller checks it.
int ih_benchkit_hub_stop (ih_benchkit_hub_t *self, int sig, int timeout_ms);

//  ---------------------------------------------------------------------
//  The fleet: sites with their events signed up front

typedef struct _ih_benchkit_fleet_t ih_benchkit_fleet_t;

//  Makes sites sites named "PREFIX-01", "PREFIX-02", ... (incubators in
//  district), each with a key in work and an entry in registry, and
//  signs events events per site, seq 1..events, of type
//  financing.round_closed. Fails the run on error.
ih_benchkit_fleet_t *ih_benchkit_fleet_new (const char *work,
                                            const char *registry,
                                            const char *prefix,
                                            const char *district, int sites,
                                            int events);
//  Frees the events and the sites' keys; sets *self_p to NULL; safe twice.
void ih_benchkit_fleet_destroy (ih_benchkit_fleet_t **self_p);

//  Sites, and events per site.
int ih_benchkit_fleet_sites (ih_benchkit_fleet_t *self);
int ih_benchkit_fleet_events (ih_benchkit_fleet_t *self);
//  Site index (0-based), e.g. to sign more. Borrowed.
ih_tk_site_t *ih_benchkit_fleet_site (ih_benchkit_fleet_t *self, int index);
//  Event n (0-based, seq n + 1) of site index and its size. Borrowed.
const uint8_t *ih_benchkit_fleet_event (ih_benchkit_fleet_t *self, int index,
                                        int n, size_t *size_p);

//  ---------------------------------------------------------------------
//  The senders: every fleet site streams all its events to one hub

typedef struct _ih_benchkit_senders_t ih_benchkit_senders_t;

//  Starts one thread per fleet site, each on its own DEALER to endpoint
//  with up to window events unacknowledged and reply_timeout_ms to wait
//  for any one reply. They start sending together once every DEALER has
//  had a STATUS reply. fleet must outlive the senders.
ih_benchkit_senders_t *ih_benchkit_senders_new (const char *endpoint,
                                                ih_benchkit_fleet_t *fleet,
                                                int window,
                                                int reply_timeout_ms);

//  Waits for every sender to finish. Fails the run (messages start with
//  label) if any failed: no connection, a NAK, a reply not the ACK of
//  the next event in order, a timeout, or not every event ACKed. Returns
//  the events ACKed (all of them) and, in *seconds_p, the time from the
//  first send of any sender to the last ACK of any sender.
uint64_t ih_benchkit_senders_wait (ih_benchkit_senders_t *self,
                                   const char *label, double *seconds_p);

//  Joins any thread still running (so call wait first), frees; sets
//  *self_p to NULL; safe twice.
void ih_benchkit_senders_destroy (ih_benchkit_senders_t **self_p);

//  ---------------------------------------------------------------------
//  Statistics

//  Median of count (>= 1) values; sorts them in place.
double ih_benchkit_median (double *values, int count);
//  Median and max of count (>= 1) values; sorts them in place.
void ih_benchkit_median_max (double *values, int count, double *median_p,
                             double *max_p);

//  Self test (no hub needed).
void ih_benchkit_test (bool verbose);

#endif
