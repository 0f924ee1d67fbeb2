/*  =========================================================================
    it_chaos_hub - SIGKILL the hub again and again under load

    Five real agents (ipc endpoints) forward to one hub. Four are fed by
    the test's own DEALERs on their listen sockets, pipelined and paced,
    recording every CONFIRM (per-site sequence -> the payload's unique id);
    the fifth is fed by successive `incuhub publish` runs reading JSON
    lines from stdin, whose "seq=N" lines are recorded the same way. Under
    that load the test SIGKILLs the hub at random moments (gaps and down
    times drawn from a seeded PRNG; IH_CHAOS_SEED=N replays a schedule) and
    restarts it on the same data directory and endpoints, at least
    S_KILLS times. Then publishing stops, the agents drain, and the test
    checks that every confirmed event is in the log exactly once under the
    sequence it was confirmed with, that no payload was stored twice, that
    per-site chains are whole (ih_tk_log_check), that `incuhub audit`
    passes and that every agent is connected with nothing in flight.
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_tkfleet.h"

#define S_AGENTS 5
#define S_CLI 4 //  the agent fed by `incuhub publish`
#define S_KILLS 20
#define S_WINDOW 16 //  requests in flight per DEALER publisher
#define S_RATE 400  //  events per second per publisher, at most
#define S_CHUNK 100 //  lines per `incuhub publish` run
#define S_MAX 20000 //  events per publisher, hard cap

int
main (void)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256];
    ih_tk_paths (dir, data, registry, ingest, pub);
    const char *districts[S_AGENTS] = {"shinan", "shibei", "licang", "laoshan",
                                       "chengyang"};
    ih_tkfleet_t *fleet =
        ih_tkfleet_new (dir, registry, districts, S_AGENTS, S_WINDOW, S_MAX);
    uint64_t seed = ih_tkfleet_seed (fleet, "it_chaos_hub");
    ih_tkfleet_set_cli (fleet, S_CLI, S_CHUNK);
    int64_t started = ih_tk_now ();
    ih_proc_t *hub =
        ih_tk_hub_start (dir, data, registry, ingest, pub, NULL, NULL);
    for (int a = 0; a < S_AGENTS; a++)
        ih_tkfleet_agent_start (fleet, a, ingest);

    //  Load while killing. The hub is up until kill_at, then down until
    //  restart_at (the agents keep confirming from their outboxes).
    int kills = 0;
    int64_t restart_max = 0, restart_sum = 0;
    int64_t load_start = ih_tk_now ();
    int64_t kill_at = load_start + ih_tkfleet_between (fleet, 100, 600);
    int64_t restart_at = 0;
    bool hub_up = true;
    while (kills < S_KILLS || !hub_up) {
        int64_t now = ih_tk_now ();
        if (hub_up && now >= kill_at) {
            ih_tk_kill (&hub, "hub");
            kills++;
            hub_up = false;
            //  Mostly short outages, now and then a longer one.
            restart_at = now + (ih_tkfleet_rand (fleet) % 4
                                    ? ih_tkfleet_between (fleet, 0, 150)
                                    : ih_tkfleet_between (fleet, 300, 1200));
        } else if (!hub_up && now >= restart_at) {
            int64_t spawn = ih_tk_now ();
            hub =
                ih_tk_hub_start (dir, data, registry, ingest, pub, NULL, NULL);
            int64_t took = ih_tk_now () - spawn;
            restart_sum += took;
            if (took > restart_max)
                restart_max = took;
            hub_up = true;
            //  Sometimes right after the restart, while agents resend.
            kill_at = ih_tk_now () + (ih_tkfleet_rand (fleet) % 5
                                          ? ih_tkfleet_between (fleet, 50, 600)
                                          : ih_tkfleet_between (fleet, 0, 30));
        }
        uint64_t allowed =
            (uint64_t) ((ih_tk_now () - load_start) * S_RATE / 1000) + 1;
        ih_tkfleet_pump (fleet, allowed);
    }
    int64_t load_ms = ih_tk_now () - load_start;

    //  Stop publishing, drain every agent (backlog 0, connected, nothing
    //  in flight), and hold the log against what was confirmed.
    ih_tkfleet_figures_t fig;
    int64_t drain_ms = ih_tkfleet_settle (fleet, data, &fig);
    printf ("it_chaos_hub: kills=%d load_ms=%" PRId64
            " events_confirmed=%" PRIu64 " events_lost=%" PRIu64
            " duplicates_stored=%" PRIu64 " unconfirmed_stored=%" PRIu64
            " restart_max_ms=%" PRId64 " restart_avg_ms=%" PRId64
            " drain_ms=%" PRId64 "\n",
            kills, load_ms, fig.confirmed, fig.lost, fig.duplicates,
            fig.unconfirmed_stored, restart_max, restart_sum / kills, drain_ms);
    //  No agent was killed: nothing may be stored unconfirmed.
    uint64_t events = ih_tkfleet_conclude (fleet, &fig, seed, data, registry);

    ih_tkfleet_stop (fleet);
    ih_tkfleet_destroy (&fleet);
    ih_tk_stop (&hub, "hub");
    ih_tk_cleanup ();
    printf ("it_chaos_hub: OK (%" PRIu64 " events, %d kills, %" PRId64
            " ms total)\n",
            events, kills, ih_tk_now () - started);
    return 0;
}
