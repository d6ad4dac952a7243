/*
 * test_cli.c - the binary's command line, run as a user would: --version,
 * and the one-line answer to an argument it does not know.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char *run_binary(const char *arg, int *status, char **err_text)
{
    char out[PATH_MAX], err[PATH_MAX];
    snprintf(out, sizeof out, "%s/cli.out", h_test_dir());
    snprintf(err, sizeof err, "%s/cli.err", h_test_dir());
    remove(err);
    const char *argv[] = { SB_NODE_BIN, arg, NULL };
    *status = h_run(argv, NULL, out, "cli.err", 10000);
    *err_text = h_read_file(err);
    return h_read_file(out);
}

IT_TEST(cli, version_flag_prints_the_version, h_setup_none)
{
    int status;
    char *err;
    char *out = run_binary("--version", &status, &err);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "--version did not exit 0");
    cr_assert_str_eq(out, "switchboard " SB_VERSION "\n");
    cr_assert_str_empty(err, "--version wrote to stderr: %s", err);
    free(out);
    free(err);
}

IT_TEST(cli, bad_arguments_point_to_help_once, h_setup_none)
{
    const char *bad[] = { "--no-such-option", "stray", "--port" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int status;
        char *err;
        char *out = run_binary(bad[i], &status, &err);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "%s did not exit 2", bad[i]);
        const char *hint = strstr(err, "(see --help)");
        cr_assert(hint && !strstr(hint + 1, "(see --help)"),
                  "%s: the hint is not there exactly once: %s", bad[i], err);
        cr_assert(strchr(err, '\n') == err + strlen(err) - 1, "%s: not one line: %s", bad[i], err);
        free(out);
        free(err);
    }
}
