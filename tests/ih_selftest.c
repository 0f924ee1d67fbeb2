/*  =========================================================================
    ih_selftest - runs one module's selftest, or all of them

    Usage: ih_selftest [-v] [MODULE]. ctest registers one entry per module
    (unit.<module>). Each module's ih_<module>_test doubles as its usage
    example.
    =========================================================================*/
#include <czmq.h>
#include "ih_err.h"
#include "ih_key.h"
#include "ih_event.h"
#include "ih_wire.h"
#include "ih_record.h"
#include "ih_json.h"
#include "ih_merkle.h"
#include "ih_checkpoint.h"
#include "ih_log.h"
#include "ih_registry.h"
#include "ih_publish.h"
#include "ih_ingest.h"
#include "ih_replay.h"
#include "ih_outbox.h"
#include "ih_agent.h"
#include "ih_hubconf.h"
#include "ih_agentconf.h"
#include "ih_conftab.h"
#include "ih_curve.h"
#include "ih_regchange.h"
#include "ih_journal.h"
#include "ih_zap.h"
#include "ih_redial.h"

static const struct {
    const char *name;
    void (*test) (bool verbose);
} s_tests[] = {
    {"err", ih_err_test},         {"key", ih_key_test},
    {"event", ih_event_test},     {"wire", ih_wire_test},
    {"record", ih_record_test},   {"json", ih_json_test},
    {"log", ih_log_test},         {"registry", ih_registry_test},
    {"publish", ih_publish_test}, {"ingest", ih_ingest_test},
    {"outbox", ih_outbox_test},   {"agent", ih_agent_test},
    {"hubconf", ih_hubconf_test}, {"agentconf", ih_agentconf_test},
    {"merkle", ih_merkle_test},   {"checkpoint", ih_checkpoint_test},
    {"replay", ih_replay_test},   {"conftab", ih_conftab_test},
    {"curve", ih_curve_test},     {"regchange", ih_regchange_test},
    {"journal", ih_journal_test}, {"zap", ih_zap_test},
    {"redial", ih_redial_test},
};

int
main (int argc, char *argv[])
{
    bool verbose = false;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (streq (argv[i], "-v"))
            verbose = true;
        else
            only = argv[i];
    }
    size_t ran = 0;
    for (size_t i = 0; i < sizeof (s_tests) / sizeof (s_tests[0]); i++) {
        if (only && !streq (only, s_tests[i].name))
            continue;
        s_tests[i].test (verbose);
        ran++;
    }
    if (ran == 0) {
        fprintf (stderr, "ih_selftest: no test named '%s'\n", only);
        return 1;
    }
    printf ("%zu passed, 0 failed\n", ran);
    return 0;
}
