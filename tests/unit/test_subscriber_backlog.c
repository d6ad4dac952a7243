/*
 * test_overload.c - reading how far behind the nodes' subscribers are from
 * a CLIENT LIST reply (node/subscriber_backlog.c).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "subscriber_backlog.h"

static long long backlog(const char *list)
{
    return sb_subscriber_backlog(list, strlen(list));
}

Test(overload, largest_omem_of_the_named_subscribers)
{
    const char *list =
        "id=3 addr=127.0.0.1:1 laddr=x fd=8 name=sbsub:node-a age=1 sub=2 omem=0 tot-mem=1\n"
        "id=4 addr=127.0.0.1:2 laddr=x fd=9 name=monitor age=1 sub=1 omem=99999999 tot-mem=1\n"
        "id=5 addr=127.0.0.1:3 laddr=x fd=10 name=sbsub:node-b age=1 sub=2 omem=123456 tot-mem=1\n";
    cr_assert_eq(backlog(list), 123456);
}

Test(overload, none_named_or_nothing_to_read)
{
    cr_assert_eq(backlog(""), -1);
    cr_assert_eq(backlog("id=4 addr=a name= omem=5\n"), -1);
    cr_assert_eq(backlog("id=5 name=sbsub:n omem=\n"), -1);
    /* a name that merely contains the prefix further on */
    cr_assert_eq(backlog("id=6 name=x-sbsub:n omem=7\n"), -1);
    /* the last line without its newline */
    cr_assert_eq(backlog("id=7 name=sbsub:n omem=42"), 42);
}
