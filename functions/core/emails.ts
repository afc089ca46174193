/**
 * Email addresses inside free text (Auth0's error messages, profile and metadata values): found with one pattern,
 * so what is redacted in a log line and what is masked in a drift report cannot disagree.
 */
export const EMAILS_IN_TEXT = /[^\s'"<>(),:;]+@[^\s'"<>(),:;]+/g;

/** A whole value that looks like one email address (pseudonymised as an email, masked as one). */
export const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+$/;
