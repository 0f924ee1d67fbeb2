/*  =========================================================================
    ih_cmd_verify - `incuhub verify-proof`: check a Merkle proof offline

    The auditor's end of issue 3. `incuhub prove` (or anyone holding the
    hub's log) produces a proof as one JSON object; this command checks it
    with nothing but the hub's public key (NAME.pub), so an auditor needs
    neither the hub nor its disk. Two kinds (docs/audit.md):

      inclusion: {"kind":"inclusion","hub_seq":N,"size":S,
                  "record":"<hex of the stored record>",
                  "path":["<hex32>",...],"checkpoint":"<text form>"}
        the checkpoint verifies with the hub key and has size S; the leaf
        hash of record, with path, leads to its root (ih_merkle_verify_
        inclusion of leaf hub_seq - 1): the record is hub_seq N of the log
        the hub signed. The event inside is printed as one JSON line.
      consistency: {"kind":"consistency","old":"<text>","new":"<text>",
                    "proof":["<hex32>",...]}
        both checkpoints verify with the hub key and the proof shows the
        new tree extends the old: nothing the old one covered changed.

    Exit 0 if the proof holds, 3 if it does not (the reason on stderr),
    1 if the files cannot be read, 2 for bad arguments.
    =========================================================================*/
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include "ih_checkpoint.h"
#include "ih_cli.h"
#include "ih_key.h"
#include "ih_merkle.h"
#include "ih_record.h"

//  Largest proof document read (a record is at most ~1 MiB, in hex)
#define S_PROOF_MAX (4 * 1024 * 1024)

static const char *s_verify_usage =
    "Usage: incuhub verify-proof --hub-key FILE.pub [PROOF_FILE|-]\n"
    "\n"
    "Checks, offline, a proof the hub's log produced (incuhub prove), using\n"
    "only the hub's public key. The proof is one JSON object read from\n"
    "PROOF_FILE or stdin (- or none):\n"
    "  {\"kind\":\"inclusion\",\"hub_seq\":N,\"size\":S,\"record\":HEX,\n"
    "   \"path\":[HEX32,...],\"checkpoint\":TEXT}\n"
    "  {\"kind\":\"consistency\",\"old\":TEXT,\"new\":TEXT,"
    "\"proof\":[HEX32,...]}\n"
    "(TEXT: a checkpoint's six-line text form.)\n"
    "\n"
    "On success prints on stdout and exits 0:\n"
    "  verify-proof: OK inclusion log=ID hub_seq=N size=S root=HEX\n"
    "  <the event as one JSON line, with its hub_seq and received time>\n"
    "or\n"
    "  verify-proof: OK consistency log=ID old_size=M new_size=N\n"
    "If the proof does not hold, prints on stderr and exits 3:\n"
    "  verify-proof: FAILED: <reason> (<IH_E_NAME>)\n"
    "\n"
    "Options:\n"
    "  -k, --hub-key FILE    the hub's public key (NAME.pub)\n"
    "  -h, --help            this text\n";

//  Prints the verdict of a proof that does not hold; returns IH_CLI_AUDIT.
static int s_bad (ih_err_t err, const char *format, ...) CHECK_PRINTF (2);

static int
s_bad (ih_err_t err, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "verify-proof: FAILED: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, " (%s)\n", ih_err_name (err));
    va_end (args);
    return IH_CLI_AUDIT;
}

//  Reads all of stream (at most S_PROOF_MAX bytes) into a NUL-terminated
//  buffer the caller frees; NULL if unreadable or too big.
static char *
s_read_all (FILE *stream, size_t *size_p)
{
    size_t max = 65536, size = 0;
    char *buffer = (char *) malloc (max + 1);
    assert (buffer);
    size_t got;
    while ((got = fread (buffer + size, 1, max - size, stream)) > 0) {
        size += got;
        if (size == max) {
            if (max >= S_PROOF_MAX) {
                free (buffer);
                return NULL;
            }
            max *= 2;
            buffer = (char *) realloc (buffer, max + 1);
            assert (buffer);
        }
    }
    if (ferror (stream)) {
        free (buffer);
        return NULL;
    }
    buffer[size] = 0;
    *size_p = size;
    return buffer;
}

//  Decodes a string of exactly 2 * size lower- or upper-case hex digits.
static bool
s_hex (const char *hex, uint8_t *out, size_t size)
{
    size_t len;
    return hex && strlen (hex) == 2 * size &&
           sodium_hex2bin (out, size, hex, 2 * size, NULL, &len, NULL) == 0 &&
           len == size;
}

//  Parses, decodes and verifies a checkpoint's text form with the hub key.
static ih_err_t
s_checkpoint (json_t *text, ih_key_t *hub_key, ih_checkpoint_t *cp,
              const char **why_p)
{
    uint8_t bytes[IH_CHECKPOINT_MAX];
    size_t size;
    *why_p = "is not a checkpoint's text form";
    if (!json_is_string (text))
        return IH_E_MALFORMED;
    ih_err_t err =
        ih_checkpoint_from_text (json_string_value (text), bytes, &size);
    if (err == IH_OK)
        err = ih_checkpoint_decode (bytes, size, cp);
    if (err != IH_OK)
        return err;
    *why_p = "is not signed by the hub key";
    if (!streq (cp->log_id, ih_key_name (hub_key)))
        return IH_E_BADSIG;
    return ih_checkpoint_verify (bytes, size, ih_key_public (hub_key));
}

//  Decodes a JSON array of 32-byte hex hashes into a malloc'ed buffer.
static ih_err_t
s_hashes (json_t *array, size_t max, uint8_t **out_p, size_t *count_p)
{
    *out_p = NULL;
    *count_p = 0;
    if (!json_is_array (array) || json_array_size (array) > max)
        return IH_E_MALFORMED;
    size_t count = json_array_size (array);
    uint8_t *out = (uint8_t *) malloc (count * IH_MERKLE_HASH_SIZE + 1);
    assert (out);
    for (size_t i = 0; i < count; i++)
        if (!s_hex (json_string_value (json_array_get (array, i)),
                    out + i * IH_MERKLE_HASH_SIZE, IH_MERKLE_HASH_SIZE)) {
            free (out);
            return IH_E_MALFORMED;
        }
    *out_p = out;
    *count_p = count;
    return IH_OK;
}

static int
s_inclusion (json_t *proof, ih_key_t *hub_key)
{
    json_t *hub_seq_j = json_object_get (proof, "hub_seq");
    json_t *size_j = json_object_get (proof, "size");
    const char *record_hex =
        json_string_value (json_object_get (proof, "record"));
    if (!json_is_integer (hub_seq_j) || !json_is_integer (size_j) ||
        json_integer_value (hub_seq_j) < 1 || json_integer_value (size_j) < 1 ||
        !record_hex || strlen (record_hex) % 2)
        return s_bad (IH_E_MALFORMED, "an inclusion proof needs hub_seq, size, "
                                      "record, path and checkpoint");
    uint64_t hub_seq = (uint64_t) json_integer_value (hub_seq_j);
    uint64_t size = (uint64_t) json_integer_value (size_j);
    ih_checkpoint_t cp;
    const char *why;
    ih_err_t err = s_checkpoint (json_object_get (proof, "checkpoint"), hub_key,
                                 &cp, &why);
    if (err != IH_OK)
        return s_bad (err, "the checkpoint %s", why);
    if (cp.size != size)
        return s_bad (IH_E_PROOF,
                      "the checkpoint is of size=%" PRIu64 ", the proof says "
                      "size=%" PRIu64,
                      cp.size, size);
    size_t record_size = strlen (record_hex) / 2;
    uint8_t *record = (uint8_t *) malloc (record_size + 1);
    assert (record);
    uint8_t *path = NULL;
    size_t path_len = 0;
    int rc;
    if (!s_hex (record_hex, record, record_size))
        rc = s_bad (IH_E_MALFORMED, "record is not hex");
    else if (s_hashes (json_object_get (proof, "path"), IH_MERKLE_PATH_MAX,
                       &path, &path_len) != IH_OK)
        rc = s_bad (IH_E_MALFORMED, "path is not a list of 32-byte hex hashes");
    else {
        uint8_t leaf[IH_MERKLE_HASH_SIZE];
        ih_merkle_leaf_hash (record, record_size, leaf);
        err = ih_merkle_verify_inclusion (hub_seq - 1, size, leaf, path,
                                          path_len, cp.root);
        uint64_t received;
        const uint8_t *event;
        size_t event_size;
        if (err != IH_OK)
            rc = s_bad (err,
                        "the record is not hub_seq=%" PRIu64 " of the log "
                        "'%s' of size=%" PRIu64 " the hub signed",
                        hub_seq, cp.log_id, size);
        else if ((err = ih_record_decode (record, record_size, &received,
                                          &event, &event_size)) != IH_OK)
            rc = s_bad (err, "the record is in the log but does not decode");
        else {
            char root_hex[IH_KEY_HEX_SIZE];
            ih_key_to_hex (cp.root, root_hex);
            printf ("verify-proof: OK inclusion log=%s hub_seq=%" PRIu64
                    " size=%" PRIu64 " root=%s\n",
                    cp.log_id, hub_seq, size, root_hex);
            fflush (stdout);
            //  The event is proven stored; its payload may still fail to
            //  map to JSON, which does not unmake the proof
            if (ih_cli_print_event (event, event_size, hub_seq, received) !=
                IH_OK)
                fprintf (stderr, "verify-proof: the event does not print as "
                                 "JSON\n");
            rc = IH_CLI_OK;
        }
    }
    free (record);
    free (path);
    return rc;
}

static int
s_consistency (json_t *proof_j, ih_key_t *hub_key)
{
    ih_checkpoint_t old_cp, new_cp;
    const char *why;
    ih_err_t err =
        s_checkpoint (json_object_get (proof_j, "old"), hub_key, &old_cp, &why);
    if (err != IH_OK)
        return s_bad (err, "the old checkpoint %s", why);
    err =
        s_checkpoint (json_object_get (proof_j, "new"), hub_key, &new_cp, &why);
    if (err != IH_OK)
        return s_bad (err, "the new checkpoint %s", why);
    uint8_t *proof = NULL;
    size_t len = 0;
    if (s_hashes (json_object_get (proof_j, "proof"), IH_MERKLE_PROOF_MAX,
                  &proof, &len) != IH_OK)
        return s_bad (IH_E_MALFORMED,
                      "proof is not a list of 32-byte hex hashes");
    err = ih_merkle_verify_consistency (old_cp.size, new_cp.size, old_cp.root,
                                        new_cp.root, proof, len);
    free (proof);
    if (err != IH_OK)
        return s_bad (err,
                      "the log of size=%" PRIu64 " does not extend the log "
                      "of size=%" PRIu64 " (rewritten?)",
                      new_cp.size, old_cp.size);
    printf ("verify-proof: OK consistency log=%s old_size=%" PRIu64
            " new_size=%" PRIu64 "\n",
            new_cp.log_id, old_cp.size, new_cp.size);
    return IH_CLI_OK;
}

int
ih_cmd_verify_proof (int argc, char *argv[])
{
    const char *sub = "verify-proof";
    const char *key_path = NULL;
    static const struct option options[] = {
        {"hub-key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    ih_cli_getopt_init ();
    int opt;
    while ((opt = getopt_long (argc, argv, ":k:h", options, NULL)) != -1) {
        switch (opt) {
        case 'k':
            key_path = optarg;
            break;
        case 'h':
            fputs (s_verify_usage, stdout);
            return IH_CLI_OK;
        default:
            return ih_cli_bad_option (sub, argv, opt);
        }
    }
    if (!key_path)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--hub-key is required; see --help");
    if (argc - optind > 1)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "unexpected argument '%s'; see --help",
                            argv[optind + 1]);
    const char *path = optind < argc ? argv[optind] : "-";

    ih_key_t *hub_key = NULL;
    ih_err_t err = ih_key_load (key_path, &hub_key);
    if (err != IH_OK)
        return ih_cli_fail (sub, err, IH_CLI_FAIL, "cannot load hub key %s: %s",
                            key_path, ih_strerror (err));
    FILE *stream = streq (path, "-") ? stdin : fopen (path, "rb");
    size_t size = 0;
    char *text = stream ? s_read_all (stream, &size) : NULL;
    if (stream && stream != stdin)
        fclose (stream);
    int rc;
    if (!text)
        rc = ih_cli_fail (sub, IH_E_IO, IH_CLI_FAIL,
                          "cannot read %s (or over %d bytes)", path,
                          S_PROOF_MAX);
    else {
        json_error_t jerr;
        json_t *proof = json_loadb (text, size, 0, &jerr);
        const char *kind = json_string_value (json_object_get (proof, "kind"));
        if (!proof || !json_is_object (proof))
            rc = s_bad (IH_E_MALFORMED, "the proof is not a JSON object");
        else if (kind && streq (kind, "inclusion"))
            rc = s_inclusion (proof, hub_key);
        else if (kind && streq (kind, "consistency"))
            rc = s_consistency (proof, hub_key);
        else
            rc = s_bad (IH_E_MALFORMED,
                        "kind must be \"inclusion\" or \"consistency\"");
        json_decref (proof);
    }
    free (text);
    ih_key_destroy (&hub_key);
    return rc;
}
