/*  =========================================================================
    it_partition - a flaky network between an agent and the hub

    The hub listens on tcp://127.0.0.1:*. Agent 0 reaches it through an
    in-process fault-injecting proxy (ih_proxy); agent 1 connects directly,
    as a control that the hub goes on serving others. The test publishes
    to both over their listen sockets (own DEALERs, pipelined, paced,
    recording every CONFIRM) while the proxy cycles through drop, stall,
    delay and pass phases of random lengths (seeded PRNG; IH_CHAOS_SEED=N
    replays a schedule) for IH_PARTITION_SECONDS (default 40), the last
    2 s always a drop. Then the link passes again, publishing stops, and
    agent 0 must catch up fully: every confirmed event in the log exactly
    once under its confirmed sequence, nothing stored twice, chains whole,
    `incuhub audit` passes. The catch-up time runs from the heal to both
    agents drained.
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_tkfleet.h"
#include "ih_proxy.h"

#define S_FINAL_DROP 2000 //  ms of drop that end the partition
#define S_AGENTS 2        //  0 through the proxy, 1 direct
#define S_WINDOW 16       //  requests in flight per DEALER publisher
#define S_RATE 100        //  events per second per publisher, at most
#define S_MAX 20000       //  events per publisher, hard cap

int
main (void)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256];
    ih_tk_paths (dir, data, registry, NULL, pub);
    ih_proxy_test (false);
    const char *env_seconds = getenv ("IH_PARTITION_SECONDS");
    int64_t partition_ms =
        (env_seconds ? atoi (env_seconds) : 40) * (int64_t) 1000;
    IH_CHECK (partition_ms > 0, "bad IH_PARTITION_SECONDS");
    const char *districts[S_AGENTS] = {"jiaozhou", "huangdao"};
    ih_tkfleet_t *fleet =
        ih_tkfleet_new (dir, registry, districts, S_AGENTS, S_WINDOW, S_MAX);
    uint64_t seed = ih_tkfleet_seed (fleet, "it_partition");
    int64_t started = ih_tk_now ();
    ih_proc_t *hub = ih_tk_hub_start (dir, data, registry, "tcp://127.0.0.1:*",
                                      pub, ingest, NULL);
    const char *colon = strrchr (ingest, ':');
    IH_CHECK (strncmp (ingest, "tcp://", 6) == 0 && colon, "hub ingest is '%s'",
              ingest);
    ih_proxy_t *proxy = ih_proxy_new ("127.0.0.1", atoi (colon + 1));
    IH_CHECK (proxy, "ih_proxy_new");
    char proxied[256];
    snprintf (proxied, sizeof proxied, "tcp://127.0.0.1:%d",
              ih_proxy_port (proxy));
    for (int a = 0; a < S_AGENTS; a++)
        ih_tkfleet_agent_start (fleet, a, a == 0 ? proxied : ingest);

    //  Load while the link misbehaves: phases of 0.5 to 4 s in the order
    //  drop, stall, delay, pass, over and over. Agent 0's backlog is
    //  sampled to show the partition bit.
    static const ih_proxy_mode_t cycle[] = {IH_PROXY_DROP, IH_PROXY_STALL,
                                            IH_PROXY_DELAY, IH_PROXY_PASS};
    int phases = 0;
    json_int_t backlog_max = 0;
    int64_t load_start = ih_tk_now ();
    int64_t phase_end = load_start + ih_tkfleet_between (fleet, 500, 2000);
    int64_t sample_at = load_start;
    while (ih_tk_now () - load_start < partition_ms) {
        int64_t now = ih_tk_now ();
        if (now >= phase_end) {
            //  The last S_FINAL_DROP ms are always a drop, so that the
            //  catch-up time measures a reconnect and a resend.
            bool final = now - load_start >= partition_ms - S_FINAL_DROP;
            ih_proxy_mode_t mode = final ? IH_PROXY_DROP : cycle[phases % 4];
            phases++;
            int delay = (int) ih_tkfleet_between (fleet, 10, 400);
            ih_proxy_set_mode (proxy, mode, delay);
            phase_end = now + ih_tkfleet_between (fleet, 500, 4000);
            if (final)
                phase_end = load_start + partition_ms;
            else if (phase_end > load_start + partition_ms - S_FINAL_DROP)
                phase_end = load_start + partition_ms - S_FINAL_DROP;
            printf ("it_partition: t=%" PRId64 "ms %s for %" PRId64 "ms%s\n",
                    now - load_start, ih_proxy_mode_name (mode),
                    phase_end - now,
                    mode == IH_PROXY_DELAY ? " with latency" : "");
            if (mode == IH_PROXY_DELAY)
                printf ("it_partition:   latency %d ms per chunk\n", delay);
        }
        if (now >= sample_at) {
            json_t *status = ih_tkfleet_status (fleet, 0);
            if (ih_tkfleet_status_int (status, "backlog") > backlog_max)
                backlog_max = ih_tkfleet_status_int (status, "backlog");
            json_decref (status);
            sample_at = now + 250;
        }
        uint64_t allowed =
            (uint64_t) ((ih_tk_now () - load_start) * S_RATE / 1000) + 1;
        ih_tkfleet_pump (fleet, allowed);
    }
    int64_t load_ms = ih_tk_now () - load_start;
    ih_proxy_set_mode (proxy, IH_PROXY_PASS, 0);
    int64_t healed = ih_tk_now ();
    uint64_t during = ih_tkfleet_confirmed (fleet, 0);

    //  Stop publishing, drain every agent (backlog 0, connected, nothing
    //  in flight): the catch-up ends there. Then hold the log against what
    //  was confirmed.
    ih_tkfleet_finish (fleet);
    ih_tkfleet_drain (fleet);
    int64_t catch_up_ms = ih_tk_now () - healed;
    ih_tkfleet_figures_t fig;
    ih_tkfleet_verify (fleet, data, &fig);
    printf ("it_partition: partition_ms=%" PRId64 " phases=%d"
            " events_during_partition=%" PRIu64 " (proxied agent)"
            " events_confirmed=%" PRIu64 " backlog_max=%lld"
            " proxy_connections=%" PRIu64 " catch_up_ms=%" PRId64
            " events_lost=%" PRIu64 " duplicates_stored=%" PRIu64 "\n",
            load_ms, phases, during, fig.confirmed, (long long) backlog_max,
            ih_proxy_accepted (proxy), catch_up_ms, fig.lost, fig.duplicates);
    //  No agent was killed: nothing may be stored unconfirmed.
    uint64_t events = ih_tkfleet_conclude (fleet, &fig, seed, data, registry);

    ih_tkfleet_stop (fleet);
    ih_tkfleet_destroy (&fleet);
    ih_tk_stop (&hub, "hub");
    ih_tk_cleanup ();
    ih_proxy_destroy (&proxy);
    printf ("it_partition: OK (%" PRIu64 " events, %d phases, %" PRId64
            " ms total)\n",
            events, phases, ih_tk_now () - started);
    return 0;
}
