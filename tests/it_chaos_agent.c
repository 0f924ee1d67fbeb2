/*  =========================================================================
    it_chaos_agent - SIGKILL agents again and again under load

    Five real agents (ipc endpoints) forward to one hub; the test feeds each
    through its own DEALER on the agent's listen socket, pipelined and
    paced, recording every CONFIRM (per-site sequence -> the payload's
    unique id). Under that load it SIGKILLs agents at random moments (which
    agent and when drawn from a seeded PRNG; IH_CHAOS_SEED=N replays a
    schedule), S_KILLS_EACH times each, and restarts each on its outbox;
    its publisher reconnects and goes on with fresh ids (requests in flight
    at the kill are abandoned: they may or may not have been stored). Then
    publishing stops, the agents drain, and the test checks that every
    confirmed event is in the log exactly once under the sequence it was
    confirmed with, that no payload was stored twice and no sequence
    confirmed twice, that per-site chains are whole (ih_tk_log_check), that
    `incuhub audit` passes and that every agent is connected with nothing
    in flight.
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_tkfleet.h"

#define S_AGENTS 5
#define S_KILLS_EACH 4 //  kills per agent: 20 in all
#define S_KILLS (S_AGENTS * S_KILLS_EACH)
#define S_WINDOW 16 //  requests in flight per DEALER publisher
#define S_RATE 800  //  events per second per publisher, at most
#define S_MAX 20000 //  events per publisher, hard cap

int
main (void)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    ih_tkfleet_test (false);
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256];
    ih_tk_paths (dir, data, registry, ingest, pub);
    const char *districts[S_AGENTS] = {"shinan", "shibei", "licang", "laoshan",
                                       "chengyang"};
    ih_tkfleet_t *fleet =
        ih_tkfleet_new (dir, registry, districts, S_AGENTS, S_WINDOW, S_MAX);
    uint64_t seed = ih_tkfleet_seed (fleet, "it_chaos_agent");
    int64_t started = ih_tk_now ();
    ih_proc_t *hub =
        ih_tk_hub_start (dir, data, registry, ingest, pub, NULL, NULL);
    for (int a = 0; a < S_AGENTS; a++)
        ih_tkfleet_agent_start (fleet, a, ingest);

    //  The kill schedule: each agent S_KILLS_EACH times, in a shuffled
    //  order, at random gaps.
    int victims[S_KILLS];
    for (int k = 0; k < S_KILLS; k++)
        victims[k] = k % S_AGENTS;
    for (int k = S_KILLS - 1; k > 0; k--) {
        int j = (int) (ih_tkfleet_rand (fleet) % (uint64_t) (k + 1));
        int swap = victims[k];
        victims[k] = victims[j];
        victims[j] = swap;
    }

    //  Load while killing. A killed agent is restarted at once (the wait
    //  for its ready line is its outage); the others keep publishing.
    int kills = 0, agent_kills[S_AGENTS] = {0};
    int64_t restart_max = 0, restart_sum = 0;
    int64_t load_start = ih_tk_now ();
    int64_t kill_at = load_start + ih_tkfleet_between (fleet, 100, 600);
    while (kills < S_KILLS) {
        int64_t now = ih_tk_now ();
        if (now >= kill_at) {
            int victim = victims[kills];
            ih_tkfleet_agent_kill (fleet, victim);
            agent_kills[victim]++;
            kills++;
            int64_t spawn = ih_tk_now ();
            ih_tkfleet_agent_start (fleet, victim, ingest);
            int64_t took = ih_tk_now () - spawn;
            restart_sum += took;
            if (took > restart_max)
                restart_max = took;
            //  Now and then right after a restart, while the outbox resends.
            kill_at = ih_tk_now () + (ih_tkfleet_rand (fleet) % 5
                                          ? ih_tkfleet_between (fleet, 50, 500)
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
    for (int a = 0; a < S_AGENTS; a++)
        IH_CHECK (agent_kills[a] == S_KILLS_EACH, "%s killed %d times",
                  ih_tkfleet_site (fleet, a), agent_kills[a]);
    printf ("it_chaos_agent: kills=%d load_ms=%" PRId64
            " events_confirmed=%" PRIu64 " events_lost=%" PRIu64
            " duplicates_stored=%" PRIu64 " abandoned_in_flight=%" PRIu64
            " of_which_stored=%" PRIu64 " restart_max_ms=%" PRId64
            " restart_avg_ms=%" PRId64 " drain_ms=%" PRId64 "\n",
            kills, load_ms, fig.confirmed, fig.lost, fig.duplicates,
            fig.abandoned, fig.unconfirmed_stored, restart_max,
            restart_sum / kills, drain_ms);
    //  Only requests in flight at a kill may be stored unconfirmed.
    uint64_t events = ih_tkfleet_conclude (fleet, &fig, seed, data, registry);

    ih_tkfleet_stop (fleet);
    ih_tkfleet_destroy (&fleet);
    ih_tk_stop (&hub, "hub");
    ih_tk_cleanup ();
    printf ("it_chaos_agent: OK (%" PRIu64 " events, %d kills, %" PRId64
            " ms total)\n",
            events, kills, ih_tk_now () - started);
    return 0;
}
