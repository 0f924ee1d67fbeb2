/*  =========================================================================
    ih_cmd_prove - `incuhub prove`: fetch a Merkle proof from the hub

    The auditor's end of the replay service (docs/protocol.md 5.5 and 11):
    asks the hub for an inclusion proof of one stored record, or a
    consistency proof between two checkpoints, and prints it as one JSON
    object that `incuhub verify-proof` checks offline with the hub's
    public key. It does not trust or verify anything itself. It connects
    under the transport options of ih_cli.h (CURVE with --hub-key and
    --key: the registry must give the key read scope all, as an auditor's).

      inclusion:   {"kind":"inclusion","hub_seq":N,"size":S,
                    "record":"<hex>","path":["<hex32>",...],
                    "checkpoint":"<checkpoint text>"}
      consistency: {"kind":"consistency","old":"<checkpoint text>",
                    "new":"<checkpoint text>","proof":["<hex32>",...]}
    =========================================================================*/
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include "ih_cli.h"
#include "ih_checkpoint.h"

static const char *s_usage =
    "Usage: incuhub prove --hub ENDPOINT --seq N [--checkpoint SIZE]\n"
    "                     [--hub-key FILE --key FILE | --plaintext]\n"
    "       incuhub prove --hub ENDPOINT --consistency OLD NEW\n"
    "                     [--hub-key FILE --key FILE | --plaintext]\n"
    "\n"
    "Asks the hub's replay service for a Merkle proof and prints it as one\n"
    "JSON object on stdout, for `incuhub verify-proof`:\n"
    "  inclusion of the event at hub sequence N in the tree of the\n"
    "  checkpoint of SIZE (default: the latest checkpoint), or\n"
    "  consistency between the checkpoints of sizes OLD and NEW (NEW 0:\n"
    "  the latest).\n"
    "\n"
    "Options:\n"
    "  -H, --hub ENDPOINT     the hub's replay endpoint\n"
    "  -q, --seq N            hub sequence of the event\n"
    "  -c, --checkpoint SIZE  tree size of the checkpoint to prove against\n"
    "  -C, --consistency      prove consistency (OLD NEW as arguments)\n"
    "  -T, --timeout MS       wait at most MS for the answer (default "
    "10000)\n" IH_CLI_TRANSPORT_HELP "  -h, --help             this text\n"
    "\n"
    "Over CURVE the hub serves proofs only to keys whose registry scope is\n"
    "all (an auditor's), else it refuses (IH_E_DENIED, exit 1). Check\n"
    "the proof with `incuhub verify-proof --hub-key HUB.pub`.\n";

static json_t *
s_hex (const uint8_t *bytes, size_t size)
{
    char *hex = (char *) malloc (2 * size + 1);
    assert (hex);
    sodium_bin2hex (hex, 2 * size + 1, bytes, size);
    json_t *json = json_string (hex);
    free (hex);
    return json;
}

static json_t *
s_hashes (const uint8_t *bytes, size_t size)
{
    json_t *array = json_array ();
    for (size_t i = 0; i + IH_WIRE_HASH <= size; i += IH_WIRE_HASH)
        json_array_append_new (array, s_hex (bytes + i, IH_WIRE_HASH));
    return array;
}

//  The text form of a signed checkpoint, or NULL (reported).
static json_t *
s_checkpoint (const uint8_t *bytes, size_t size)
{
    char *text = NULL;
    ih_err_t err = ih_checkpoint_to_text (bytes, size, &text);
    if (err) {
        ih_cli_fail ("prove", err, IH_CLI_FAIL,
                     "the hub sent a checkpoint that does not decode");
        return NULL;
    }
    json_t *json = json_string (text);
    free (text);
    return json;
}

int
ih_cmd_prove (int argc, char *argv[])
{
    const char *sub = "prove";
    const char *hub = NULL;
    uint64_t seq = 0, size = 0;
    bool consistency = false;
    int timeout = IH_CLI_TIMEOUT_DEFAULT;
    static const struct option options[] = {
        {"hub", required_argument, NULL, 'H'},
        {"seq", required_argument, NULL, 'q'},
        {"checkpoint", required_argument, NULL, 'c'},
        {"consistency", no_argument, NULL, 'C'},
        {"timeout", required_argument, NULL, 'T'},
        IH_CLI_TRANSPORT_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    ih_cli_transport_t transport;
    ih_cli_transport_init (&transport);
    ih_cli_getopt_init ();
    int opt;
    while ((opt = getopt_long (argc, argv, ":H:q:c:CT:h", options, NULL)) !=
           -1) {
        if (ih_cli_transport_option (&transport, opt, optarg))
            continue;
        switch (opt) {
        case 'H':
            hub = optarg;
            break;
        case 'q':
            if (!ih_cli_parse_positive (sub, "seq", "a number", optarg, &seq))
                return IH_CLI_USAGE;
            break;
        case 'c':
            if (!ih_cli_parse_positive (sub, "checkpoint", "a number", optarg,
                                        &size))
                return IH_CLI_USAGE;
            break;
        case 'C':
            consistency = true;
            break;
        case 'T':
            if (!ih_cli_parse_timeout (sub, optarg, &timeout))
                return IH_CLI_USAGE;
            break;
        case 'h':
            fputs (s_usage, stdout);
            return IH_CLI_OK;
        default:
            return ih_cli_bad_option (sub, argv, opt);
        }
    }
    uint64_t old_size = 0, new_size = 0;
    if (consistency) {
        if (argc - optind != 2 || !ih_cli_parse_u64 (argv[optind], &old_size) ||
            !ih_cli_parse_u64 (argv[optind + 1], &new_size) || old_size == 0)
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "--consistency wants OLD (>= 1) and NEW "
                                "(0 = latest); see --help");
        if (seq || size)
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "--consistency takes no --seq or "
                                "--checkpoint");
    } else if (!ih_cli_no_arguments (sub, argc, argv))
        return IH_CLI_USAGE;
    else if (!seq)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--seq or --consistency is required; see --help");
    if (!hub)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--hub is required; see --help");

    int rc = IH_CLI_FAIL;
    zsock_t *sock = ih_cli_connect (sub, ZMQ_DEALER, hub, &transport, &rc);
    ih_cli_transport_end (&transport);
    if (!sock)
        return rc;
    zmsg_t *request = consistency
                          ? ih_wire_prove_consistency (old_size, new_size)
                          : ih_wire_prove_inclusion (seq, size);
    zmsg_send (&request, sock);
    zmsg_destroy (&request); //  if unsent; the wait below then times out
    zmsg_t *reply = NULL;
    ih_wire_t wire;
    ih_err_t err = ih_cli_recv_wire (sock, timeout, &reply, &wire);
    rc = IH_CLI_FAIL;
    json_t *json = NULL;
    if (err == IH_E_TIMEOUT)
        ih_cli_fail (sub, err, IH_CLI_FAIL, "no answer from %s in %d ms%s", hub,
                     timeout, ih_cli_transport_hint (&transport));
    else if (err == IH_E_INTERNAL)
        ih_cli_fail (sub, err, IH_CLI_FAIL, "interrupted");
    else if (err != IH_OK)
        ih_cli_fail (sub, err, IH_CLI_FAIL, "the answer does not decode");
    else if (wire.kind == IH_WIRE_NAK)
        ih_cli_fail (sub, wire.code, IH_CLI_FAIL, "the hub refused: %s",
                     wire.reason);
    else if (!consistency && wire.kind == IH_WIRE_INCLUSION) {
        json_t *checkpoint =
            s_checkpoint (wire.checkpoint, wire.checkpoint_size);
        if (checkpoint)
            json = json_pack ("{s:s, s:I, s:I, s:o, s:o, s:o}", "kind",
                              "inclusion", "hub_seq", (json_int_t) wire.hub_seq,
                              "size", (json_int_t) wire.size, "record",
                              s_hex (wire.record, wire.record_size), "path",
                              s_hashes (wire.proof, wire.proof_size),
                              "checkpoint", checkpoint);
    } else if (consistency && wire.kind == IH_WIRE_CONSISTENCY) {
        json_t *old_cp = s_checkpoint (wire.checkpoint, wire.checkpoint_size);
        json_t *new_cp = old_cp ? s_checkpoint (wire.checkpoint_new,
                                                wire.checkpoint_new_size)
                                : NULL;
        if (new_cp)
            json = json_pack ("{s:s, s:o, s:o, s:o}", "kind", "consistency",
                              "old", old_cp, "new", new_cp, "proof",
                              s_hashes (wire.proof, wire.proof_size));
        else
            json_decref (old_cp);
    } else
        ih_cli_fail (sub, IH_E_COMMAND, IH_CLI_FAIL,
                     "unexpected answer from the hub");
    if (json && ih_cli_print_json (json, JSON_COMPACT | JSON_PRESERVE_ORDER))
        rc = IH_CLI_OK;
    json_decref (json);
    zmsg_destroy (&reply);
    zsock_destroy (&sock);
    return rc;
}
