
/*
 * Copyright (C) ngx_http_bedrock_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_unit.h"
#include "ngx_http_bedrock_credentials.h"


/*
 * The credential provider's parsers: ISO 8601 expirations (IMDS, ECS,
 * STS) and the XML element values of STS answers.  The expected times
 * were computed independently (Python's calendar.timegm).
 */


static void ngx_unit_iso8601(void);
static void ngx_unit_xml(void);


void
ngx_unit_credentials(void)
{
    ngx_unit_iso8601();
    ngx_unit_xml();
}


static void
ngx_unit_iso8601(void)
{
    time_t       t;
    ngx_str_t    failure;
    ngx_pool_t  *pool;
    ngx_uint_t   i;

    static struct {
        char        *text;
        time_t       want;      /* 0: refused */
    } tests[] = {
        { "2015-08-30T12:36:00Z", 1440938160 },
        { "2015-08-30t12:36:00z", 1440938160 },
        { "2015-08-30T12:36:00", 1440938160 },
        { "2015-08-30T12:36:00.123456Z", 1440938160 },
        { "2015-08-30T14:36:00+02:00", 1440938160 },
        { "2015-08-30T07:06:00-05:30", 1440938160 },
        { "2024-02-29T23:59:59Z", 1709251199 },
        { "2000-03-01T00:00:00Z", 951868800 },
        { "1999-12-31T23:59:59Z", 946684799 },
        { "2038-01-19T03:14:08Z", 2147483648LL },
        { "2100-03-01T00:00:00Z", 4107542400LL },
        { "1970-01-01T00:00:01Z", 1 },
        { "", 0 },
        { "2015-08-30", 0 },
        { "2015-08-30T12:36", 0 },
        { "2015-13-01T00:00:00Z", 0 },
        { "2015-00-10T00:00:00Z", 0 },
        { "2015-08-00T00:00:00Z", 0 },
        { "2015-08-30T24:00:00Z", 0 },
        { "2015-08-30T12:60:00Z", 0 },
        { "2015-08-30 12:36:00Z", 0 },
        { "2015/08/30T12:36:00Z", 0 },
        { "2015-08-30T12:36:00+0200", 0 },
        { "2015-08-30T12:36:00Zjunk", 0 },
        { "2015-08-30T12:36:00+ab:cd", 0 },
        { "2015-08-30T12:36:00+99:99", 0 },
        { "+015-08-30T12:36:00Z", 0 },
        { "2015-04-31T00:00:00Z", 0 },
        { "2015-06-31T00:00:00Z", 0 },
        { "2015-02-29T00:00:00Z", 0 },
        { "2100-02-29T00:00:00Z", 0 },
        { "2000-02-29T00:00:00Z", 951782400 },
        { "2015-12-31T00:00:00Z", 1451520000 },
        { "2015-08-30T12:36:00.Z", 0 },
        { "2015-08-30T12:36:00.", 0 },
        { "2015-08-30T12:36:00.5Z", 1440938160 },
        { NULL, 0 }
    };

    pool = ngx_unit_pool();
    ngx_str_null(&failure);

    for (i = 0; tests[i].text; i++) {
        t = ngx_bedrock_parse_iso8601((u_char *) tests[i].text,
                                      ngx_strlen(tests[i].text));

        if (t != tests[i].want) {
            ngx_unit_note(pool, &failure, "\"%s\": %T, want %T",
                          tests[i].text, t, tests[i].want);
        }
    }

    (void) ngx_unit_result("credentials/parse-iso8601", &failure);

    ngx_destroy_pool(pool);
}


static void
ngx_unit_xml(void)
{
    ngx_int_t    rc;
    ngx_str_t    xml, value, want, failure;
    ngx_pool_t  *pool;
    ngx_uint_t   i;

    static char  sts[] =
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws."
        "com/doc/2011-06-15/\">\n"
        "  <AssumeRoleWithWebIdentityResult>\n"
        "    <SubjectFromWebIdentityToken>sub</SubjectFromWebIdentityToken>\n"
        "    <Credentials>\n"
        "      <SessionToken>FwoGZXIvYXdzEB4aDA+/=</SessionToken>\n"
        "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG</SecretAccessKey>\n"
        "      <Expiration>2015-08-30T12:36:00Z</Expiration>\n"
        "      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>\n"
        "    </Credentials>\n"
        "  </AssumeRoleWithWebIdentityResult>\n"
        "</AssumeRoleWithWebIdentityResponse>\n";

    static struct {
        char        *xml;       /* NULL: the STS answer above */
        char        *tag;
        char        *want;      /* NULL: NGX_ERROR */
    } tests[] = {
        { NULL, "AccessKeyId", "ASIAEXAMPLE" },
        { NULL, "SecretAccessKey", "wJalrXUtnFEMI/K7MDENG" },
        { NULL, "SessionToken", "FwoGZXIvYXdzEB4aDA+/=" },
        { NULL, "Expiration", "2015-08-30T12:36:00Z" },
        { NULL, "Token", NULL },
        { NULL, "Credentials", "\n      " },
        { "<accesskeyid>a</accesskeyid>", "AccessKeyId", "a" },
        { "<A></A>", "A", NULL },
        { "<A>no end", "A", NULL },
        { "<A>", "A", NULL },
        { "<", "A", NULL },
        { "", "A", NULL },
        { "<SessionToken>s</SessionToken><Token>t</Token>", "Token", "t" },
        { "<A>x</A>", "Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaaaaaaaaaa", NULL },
        { NULL, NULL, NULL }
    };

    pool = ngx_unit_pool();
    ngx_str_null(&failure);

    for (i = 0; tests[i].tag; i++) {

        /* a copy of just the bytes, so that ASan sees any overread */

        if (tests[i].xml) {
            xml.len = ngx_strlen(tests[i].xml);
            xml.data = ngx_pnalloc(pool, xml.len ? xml.len : 1);
            if (xml.data == NULL) {
                break;
            }

            ngx_memcpy(xml.data, tests[i].xml, xml.len);

        } else {
            xml.data = (u_char *) sts;
            xml.len = sizeof(sts) - 1;
        }

        ngx_str_null(&value);

        rc = ngx_bedrock_xml_value(&xml, tests[i].tag, &value);

        if (tests[i].want == NULL) {
            if (rc != NGX_ERROR) {
                ngx_unit_note(pool, &failure, "<%s>: \"%V\", want an error",
                              tests[i].tag, ngx_unit_v(&value));
            }

            continue;
        }

        want.data = (u_char *) tests[i].want;
        want.len = ngx_strlen(tests[i].want);

        if (rc != NGX_OK) {
            ngx_unit_note(pool, &failure, "<%s>: an error, want \"%V\"",
                          tests[i].tag, &want);
            continue;
        }

        ngx_unit_compare(pool, &failure, tests[i].tag, &value, &want);
    }

    (void) ngx_unit_result("credentials/xml-value", &failure);

    ngx_destroy_pool(pool);
}
