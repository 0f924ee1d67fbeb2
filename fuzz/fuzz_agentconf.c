/*  =========================================================================
    fuzz_agentconf - libFuzzer target for the site agent's config loader

    The input is the text of an incuhub-agent config file (ZPL, section
    `agent`, see config/agent-*.cfg), written by whoever installs an agent
    at an incubator or offshore base. It goes to ih_agentconf_load_string
    (the same parser and table as ih_agentconf_load_file, without the
    file). Nothing is written.

    Invariants: the loader returns IH_OK or IH_E_CONFIG; an error comes
    with a message and leaves the object as it was (here: empty); after
    an accepted text every number is unset (0) or within its bounds
    (window 1..4096, ack_timeout_ms 10..3600000, outbox_map_mb
    1..1048576), the ih_agent_config_t built from it carries the same
    values, and ih_agentconf_check fails exactly when a required option
    (site, key, hub, outbox) is missing or the transport rule is broken
    (no hub_key and a hub endpoint that is not local, an empty hub_key, a
    listen endpoint that is not local). Then the input is tried as every
    flag's value (ih_agentconf_set), which must keep the same invariants.
    =========================================================================*/
#include "ih_fuzz.h"
#include "ih_agentconf.h"
#include "ih_curve.h"

IH_FUZZ_INITIALIZE ();

static bool
s_is_empty (ih_agentconf_t *conf)
{
    return !ih_agentconf_site (conf) && !ih_agentconf_key (conf) &&
           !ih_agentconf_hub (conf) && !ih_agentconf_outbox (conf) &&
           !ih_agentconf_listen (conf) && !ih_agentconf_hub_key (conf) &&
           ih_agentconf_window (conf) == 0 &&
           ih_agentconf_ack_timeout_ms (conf) == 0 &&
           ih_agentconf_outbox_map_mb (conf) == 0;
}

static void
s_check_values (ih_agentconf_t *conf)
{
    uint32_t window = ih_agentconf_window (conf);
    uint32_t timeout = ih_agentconf_ack_timeout_ms (conf);
    uint64_t map = ih_agentconf_outbox_map_mb (conf);
    IH_FUZZ_CHECK (window == 0 || (window >= 1 && window <= 4096));
    IH_FUZZ_CHECK (timeout == 0 || (timeout >= 10 && timeout <= 3600000));
    IH_FUZZ_CHECK (map == 0 || (map >= 1 && map <= 1048576));

    ih_agent_config_t config;
    ih_agentconf_agent_config (conf, &config);
    IH_FUZZ_CHECK (config.site == ih_agentconf_site (conf));
    IH_FUZZ_CHECK (config.key == ih_agentconf_key (conf));
    IH_FUZZ_CHECK (config.hub == ih_agentconf_hub (conf));
    IH_FUZZ_CHECK (config.outbox == ih_agentconf_outbox (conf));
    IH_FUZZ_CHECK (config.listen == ih_agentconf_listen (conf));
    IH_FUZZ_CHECK (config.window == window);
    IH_FUZZ_CHECK (config.ack_timeout == timeout);
    IH_FUZZ_CHECK (config.outbox_map == map << 20);
    IH_FUZZ_CHECK (config.hub_key == ih_agentconf_hub_key (conf));

    bool complete = config.site && config.key && config.hub && config.outbox;
    if (complete && config.hub_key)
        complete = *config.hub_key != 0;
    else if (complete)
        complete = ih_curve_local (config.hub);
    if (complete && config.listen)
        complete = ih_curve_local (config.listen);
    char *error = NULL;
    ih_err_t rc = ih_agentconf_check (conf, &error);
    IH_FUZZ_CHECK (ih_fuzz_config_answer (rc, &error) == complete);
}

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
    char *text = ih_fuzz_text (bytes, size);

    ih_agentconf_t *conf = ih_agentconf_new ();
    IH_FUZZ_CHECK (conf && s_is_empty (conf));
    char *error = NULL;
    ih_err_t rc = ih_agentconf_load_string (conf, text, &error);
    IH_FUZZ_CHECK (!error || *error); //  a message is never empty
    if (!ih_fuzz_config_answer (rc, &error))
        IH_FUZZ_CHECK (s_is_empty (conf));
    s_check_values (conf);

    //  The same bytes as a command-line value for every option
    for (size_t i = 0; ih_agentconf_flag (i); i++) {
        rc = ih_agentconf_set (conf, ih_agentconf_flag (i), text, &error);
        ih_fuzz_config_answer (rc, &error);
        s_check_values (conf);
    }
    ih_agentconf_destroy (&conf);
    IH_FUZZ_CHECK (conf == NULL);
    free (text);
    return 0;
}
