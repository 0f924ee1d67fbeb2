/*  =========================================================================
    fuzz_hubconf - libFuzzer target for the hub daemon's config loader

    The input is the text of an incuhubd config file (ZPL, section `hub`,
    see config/hub.cfg), written by an operator and read at start-up. It
    goes to ih_hubconf_load_string (the same parser and table as
    ih_hubconf_load_file, without the file). Nothing is written.

    Invariants: the loader returns IH_OK or IH_E_CONFIG; an error comes
    with a message and leaves every value at its default (parse into a
    fresh copy, swap only on success); an accepted text gives values that
    pass their checks: non-empty paths, endpoints with "://", numbers
    within the bounds of the option table; loading it again gives the same
    values; ih_hubconf_check fails exactly when map_max_mb is set and
    below map_size_mb, bureau_key is empty, CURVE is on (no plaintext)
    without a key, or plaintext is on with an endpoint that is not local
    (ih_curve_local). Then the input is tried as every flag's value
    (ih_hubconf_set), which must keep the same invariants.
    =========================================================================*/
#include "ih_fuzz.h"
#include "ih_hubconf.h"
#include "ih_ingest.h"
#include "ih_curve.h"

IH_FUZZ_INITIALIZE ();

static bool
s_is_default (ih_hubconf_t *conf)
{
    return streq (ih_hubconf_data (conf), "/var/lib/incuhub") &&
           streq (ih_hubconf_registry (conf), "") &&
           streq (ih_hubconf_bureau_key (conf), "") &&
           streq (ih_hubconf_key (conf), "") && !ih_hubconf_plaintext (conf) &&
           streq (ih_hubconf_ingest (conf), "tcp://*:7700") &&
           streq (ih_hubconf_pub (conf), "tcp://*:7701") &&
           ih_hubconf_map_size_mb (conf) == 1024 &&
           ih_hubconf_map_max_mb (conf) == 0 &&
           ih_hubconf_pub_hwm (conf) == 1000 &&
           ih_hubconf_batch_max (conf) == 1024;
}

//  Every value passes its check (the bounds are restated here on
//  purpose, as an oracle independent of the table).
static void
s_check_values (ih_hubconf_t *conf)
{
    IH_FUZZ_CHECK (*ih_hubconf_data (conf));
    IH_FUZZ_CHECK (strstr (ih_hubconf_ingest (conf), "://"));
    IH_FUZZ_CHECK (strstr (ih_hubconf_pub (conf), "://"));
    uint64_t map_size = ih_hubconf_map_size_mb (conf);
    uint64_t map_max = ih_hubconf_map_max_mb (conf);
    IH_FUZZ_CHECK (map_size >= 1 && map_size <= 1048576);
    IH_FUZZ_CHECK (map_max <= 1048576);
    IH_FUZZ_CHECK (ih_hubconf_pub_hwm (conf) >= 1 &&
                   ih_hubconf_pub_hwm (conf) <= 10000000);
    IH_FUZZ_CHECK (ih_hubconf_batch_max (conf) >= 1 &&
                   ih_hubconf_batch_max (conf) <= IH_INGEST_BATCH_MAX);
    char *error = NULL;
    ih_err_t rc = ih_hubconf_check (conf, &error);
    bool bad = map_max != 0 && map_max < map_size;
    bad = bad || !*ih_hubconf_bureau_key (conf);
    if (ih_hubconf_plaintext (conf))
        bad = bad || !ih_curve_local (ih_hubconf_ingest (conf)) ||
              !ih_curve_local (ih_hubconf_pub (conf)) ||
              (*ih_hubconf_replay (conf) &&
               !ih_curve_local (ih_hubconf_replay (conf)));
    else
        bad = bad || !*ih_hubconf_key (conf);
    IH_FUZZ_CHECK (ih_fuzz_config_answer (rc, &error) == !bad);
}

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
    char *text = ih_fuzz_text (bytes, size);

    ih_hubconf_t *conf = ih_hubconf_new ();
    IH_FUZZ_CHECK (conf && s_is_default (conf));
    char *error = NULL;
    ih_err_t rc = ih_hubconf_load_string (conf, text, &error);
    IH_FUZZ_CHECK (!error || *error); //  a message is never empty
    if (ih_fuzz_config_answer (rc, &error)) {
        s_check_values (conf);
        //  Loading the same text again changes nothing
        ih_hubconf_t *again = ih_hubconf_new ();
        IH_FUZZ_CHECK (ih_hubconf_load_string (again, text, NULL) == IH_OK);
        IH_FUZZ_CHECK (streq (ih_hubconf_data (again), ih_hubconf_data (conf)));
        IH_FUZZ_CHECK (
            streq (ih_hubconf_ingest (again), ih_hubconf_ingest (conf)));
        IH_FUZZ_CHECK (ih_hubconf_map_size_mb (again) ==
                       ih_hubconf_map_size_mb (conf));
        IH_FUZZ_CHECK (ih_hubconf_batch_max (again) ==
                       ih_hubconf_batch_max (conf));
        ih_hubconf_destroy (&again);
    } else
        IH_FUZZ_CHECK (s_is_default (conf));

    //  The same bytes as a command-line value for every option
    for (size_t i = 0; ih_hubconf_flag (i); i++) {
        rc = ih_hubconf_set (conf, ih_hubconf_flag (i), text, &error);
        ih_fuzz_config_answer (rc, &error);
        s_check_values (conf);
    }
    ih_hubconf_destroy (&conf);
    IH_FUZZ_CHECK (conf == NULL);
    free (text);
    return 0;
}
