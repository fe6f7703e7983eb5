-- Reserved for the push server side (XEP-0357 registrations of accounts).
SELECT 1;
