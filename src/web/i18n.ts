/**
 * The words of the HTML blocks, in English, German, French and Dutch: one catalogue for the
 * server, which writes the blocks (blocks.ts), and for the footer script, which updates them
 * (nextauth.ts, bundled into it), so both say the same thing. English is the fallback.
 *
 * The routes pick a block's language (`?lang=`, else the request's Accept-Language, else English:
 * docs/protocol-notes.md, note 33) and write it on the block's root as `lang`; the script reads
 * it there and negotiates nothing.
 *
 * Arguments named `app` or `link` may be markup (blocks.ts passes `<strong>…</strong>`, `<a>…</a>`),
 * so the sentences themselves hold no `<`, `>`, `&` or `"` (test/web/i18n.test.ts checks it).
 * German says "Sie", French "vous", Dutch "je", as sites in those languages mostly do.
 */
export const LANGS = ['en', 'de', 'fr', 'nl'] as const;
export type Lang = (typeof LANGS)[number];

export interface Messages {
  // The blocks, as the server writes them.
  loginTitle(server: string): string;
  loggedInTitle(server: string): string;
  enrolTitle(server: string): string;
  loginQrLabel(app: string, server: string): string;
  enrolQrLabel(app: string, server: string): string;
  loginHelp(app: string): string;
  loginPhoneHelp(app: string): string;
  enrolHelp(app: string): string;
  enrolPhoneHelp(app: string): string;
  /** Where the app is to be had: the store links, one or two. */
  getApp(stores: string[]): string;
  loginLink(app: string): string;
  enrolLink(app: string): string;
  showQr: string;
  cantScan: string;
  cantScanHelp(app: string, link: string): string;
  /** The text of the link in cantScanHelp. */
  openLink: string;
  /** The name of the field that holds the app link. */
  appLink: string;
  codeValid(time: string): string;
  logout: string;
  // The consent page of a server's OpenID Provider (src/transports/oidc/).
  consentAsks(app: string, scopes: string): string;
  allow: string;
  refuse: string;
  newCode: string;
  push: string;
  // Progress, written by the server and kept current by the script.
  scanned: string;
  confirmLogin: string;
  /** Followed by the number to match. */
  pickNumber: string;
  sending: string;
  cancelled: string;
  noAccounts: string;
  loggedIn: string;
  enrolled: string;
  expired: string;
  // What went wrong with a push (the NS's error codes).
  rateLimited: string;
  cannotProvoke: string;
  accountBlocked: string;
  notConnected: string;
  failed(code: string): string;
}

const en: Messages = {
  loginTitle: (server) => `Log in to ${server}`,
  loggedInTitle: (server) => `Logged in to ${server}`,
  enrolTitle: (server) => `Add your phone to ${server}`,
  loginQrLabel: (app, server) => `QR code: scan it with the ${app} app to log in to ${server}`,
  enrolQrLabel: (app, server) => `QR code: scan it with the ${app} app to enrol your phone with ${server}`,
  loginHelp: (app) => `Scan the code with the ${app} app on your phone.`,
  loginPhoneHelp: (app) => `On this phone? Tap the button to log in with the ${app} app.`,
  enrolHelp: (app) => `Open the ${app} app on your phone and scan the code to add this site.`,
  enrolPhoneHelp: (app) => `Tap the button to add this site to the ${app} app on this phone.`,
  getApp: (stores) => `Get the app for ${stores.join(' or ')}.`,
  loginLink: (app) => `Log in with the ${app} app`,
  enrolLink: (app) => `Enrol with the ${app} app`,
  showQr: 'Show the QR code',
  cantScan: 'Can’t scan the code?',
  cantScanHelp: (app, link) => `On the phone with the ${app} app, ${link}, or copy it into the app:`,
  openLink: 'open this app link',
  appLink: 'App link',
  codeValid: (time) => `Code valid for ${time}`,
  logout: 'Log out',
  consentAsks: (app, scopes) => `${app} asks to use your account: ${scopes}.`,
  allow: 'Allow',
  refuse: 'Refuse',
  newCode: 'Get a new code',
  push: 'Send a login to my phone',
  scanned: 'Code scanned. Confirm on your phone.',
  confirmLogin: 'Confirm the login on your phone.',
  pickNumber: 'Pick this number on your phone:',
  sending: 'Sending a login to your phone…',
  cancelled: 'Cancelled on the phone.',
  noAccounts: 'There is no phone to send a login to. Scan the code instead.',
  loggedIn: 'You are logged in.',
  enrolled: 'Your phone is enrolled and logged in.',
  expired: 'This code has expired.',
  rateLimited: 'Too many logins were sent. Wait a moment and try again.',
  cannotProvoke: 'No phone can be asked for this browser yet: scan the code.',
  accountBlocked: 'That phone is blocked on this site.',
  notConnected: 'Not connected to the login server. Trying again…',
  failed: (code) => `Something went wrong (${code}).`,
};

const de: Messages = {
  loginTitle: (server) => `Bei ${server} anmelden`,
  loggedInTitle: (server) => `Bei ${server} angemeldet`,
  enrolTitle: (server) => `Ihr Smartphone bei ${server} registrieren`,
  loginQrLabel: (app, server) => `QR-Code: mit der App ${app} scannen, um sich bei ${server} anzumelden`,
  enrolQrLabel: (app, server) => `QR-Code: mit der App ${app} scannen, um Ihr Smartphone bei ${server} zu registrieren`,
  loginHelp: (app) => `Scannen Sie den Code mit der App ${app} auf Ihrem Smartphone.`,
  loginPhoneHelp: (app) => `Auf diesem Smartphone? Tippen Sie auf die Schaltfläche, um sich mit der App ${app} anzumelden.`,
  enrolHelp: (app) => `Öffnen Sie die App ${app} auf Ihrem Smartphone und scannen Sie den Code, um diese Website hinzuzufügen.`,
  enrolPhoneHelp: (app) => `Tippen Sie auf die Schaltfläche, um diese Website der App ${app} auf diesem Smartphone hinzuzufügen.`,
  getApp: (stores) => `Die App gibt es für ${stores.join(' und ')}.`,
  loginLink: (app) => `Mit der App ${app} anmelden`,
  enrolLink: (app) => `Mit der App ${app} registrieren`,
  showQr: 'QR-Code anzeigen',
  cantScan: 'Code lässt sich nicht scannen?',
  cantScanHelp: (app, link) => `Auf dem Smartphone mit der App ${app}: ${link} oder ihn in die App kopieren:`,
  openLink: 'diesen App-Link öffnen',
  appLink: 'App-Link',
  codeValid: (time) => `Code noch ${time} gültig`,
  logout: 'Abmelden',
  consentAsks: (app, scopes) => `${app} möchte Ihr Konto verwenden: ${scopes}.`,
  allow: 'Erlauben',
  refuse: 'Ablehnen',
  newCode: 'Neuen Code anfordern',
  push: 'Anmeldung an mein Smartphone senden',
  scanned: 'Code gescannt. Bestätigen Sie auf Ihrem Smartphone.',
  confirmLogin: 'Bestätigen Sie die Anmeldung auf Ihrem Smartphone.',
  pickNumber: 'Wählen Sie diese Zahl auf Ihrem Smartphone:',
  sending: 'Anmeldung wird an Ihr Smartphone gesendet…',
  cancelled: 'Auf dem Smartphone abgebrochen.',
  noAccounts: 'Es gibt kein Smartphone, an das eine Anmeldung gesendet werden kann. Scannen Sie stattdessen den Code.',
  loggedIn: 'Sie sind angemeldet.',
  enrolled: 'Ihr Smartphone ist registriert und angemeldet.',
  expired: 'Dieser Code ist abgelaufen.',
  rateLimited: 'Zu viele Anmeldungen gesendet. Warten Sie einen Moment und versuchen Sie es erneut.',
  cannotProvoke: 'Für diesen Browser kann noch kein Smartphone gefragt werden: Scannen Sie den Code.',
  accountBlocked: 'Dieses Smartphone ist auf dieser Website gesperrt.',
  notConnected: 'Keine Verbindung zum Anmeldeserver. Neuer Versuch…',
  failed: (code) => `Etwas ist schiefgelaufen (${code}).`,
};

/** French puts a no-break space before `:` and `?`. */
const fr: Messages = {
  loginTitle: (server) => `Se connecter à ${server}`,
  loggedInTitle: (server) => `Connecté à ${server}`,
  enrolTitle: (server) => `Ajouter votre téléphone à ${server}`,
  loginQrLabel: (app, server) => `Code QR\u00a0: scannez-le avec l’app ${app} pour vous connecter à ${server}`,
  enrolQrLabel: (app, server) => `Code QR\u00a0: scannez-le avec l’app ${app} pour ajouter votre téléphone à ${server}`,
  loginHelp: (app) => `Scannez le code avec l’app ${app} sur votre téléphone.`,
  loginPhoneHelp: (app) => `Sur ce téléphone\u00a0? Touchez le bouton pour vous connecter avec l’app ${app}.`,
  enrolHelp: (app) => `Ouvrez l’app ${app} sur votre téléphone et scannez le code pour ajouter ce site.`,
  enrolPhoneHelp: (app) => `Touchez le bouton pour ajouter ce site à l’app ${app} de ce téléphone.`,
  getApp: (stores) => `Téléchargez l’app pour ${stores.join(' ou ')}.`,
  loginLink: (app) => `Se connecter avec l’app ${app}`,
  enrolLink: (app) => `Ajouter avec l’app ${app}`,
  showQr: 'Afficher le code QR',
  cantScan: 'Impossible de scanner le code\u00a0?',
  cantScanHelp: (app, link) => `Sur le téléphone qui a l’app ${app}, ${link}, ou copiez-le dans l’app\u00a0:`,
  openLink: 'ouvrez ce lien',
  appLink: 'Lien pour l’app',
  codeValid: (time) => `Code valable encore ${time}`,
  logout: 'Se déconnecter',
  consentAsks: (app, scopes) => `${app} demande à utiliser votre compte : ${scopes}.`,
  allow: 'Autoriser',
  refuse: 'Refuser',
  newCode: 'Obtenir un nouveau code',
  push: 'Envoyer une demande à mon téléphone',
  scanned: 'Code scanné. Confirmez sur votre téléphone.',
  confirmLogin: 'Confirmez la connexion sur votre téléphone.',
  pickNumber: 'Choisissez ce nombre sur votre téléphone\u00a0:',
  sending: 'Envoi de la demande à votre téléphone…',
  cancelled: 'Annulé sur le téléphone.',
  noAccounts: 'Aucun téléphone ne peut recevoir de demande. Scannez plutôt le code.',
  loggedIn: 'Vous êtes connecté.',
  enrolled: 'Votre téléphone est ajouté et connecté.',
  expired: 'Ce code a expiré.',
  rateLimited: 'Trop de demandes envoyées. Patientez un instant et réessayez.',
  cannotProvoke: 'Aucun téléphone ne peut encore être sollicité pour ce navigateur\u00a0: scannez le code.',
  accountBlocked: 'Ce téléphone est bloqué sur ce site.',
  notConnected: 'Serveur de connexion injoignable. Nouvel essai…',
  failed: (code) => `Une erreur est survenue (${code}).`,
};

const nl: Messages = {
  loginTitle: (server) => `Inloggen bij ${server}`,
  loggedInTitle: (server) => `Ingelogd bij ${server}`,
  enrolTitle: (server) => `Je telefoon toevoegen aan ${server}`,
  loginQrLabel: (app, server) => `QR-code: scan hem met de app ${app} om in te loggen bij ${server}`,
  enrolQrLabel: (app, server) => `QR-code: scan hem met de app ${app} om je telefoon toe te voegen aan ${server}`,
  loginHelp: (app) => `Scan de code met de app ${app} op je telefoon.`,
  loginPhoneHelp: (app) => `Op deze telefoon? Tik op de knop om in te loggen met de app ${app}.`,
  enrolHelp: (app) => `Open de app ${app} op je telefoon en scan de code om deze site toe te voegen.`,
  enrolPhoneHelp: (app) => `Tik op de knop om deze site toe te voegen aan de app ${app} op deze telefoon.`,
  getApp: (stores) => `Download de app voor ${stores.join(' of ')}.`,
  loginLink: (app) => `Inloggen met de app ${app}`,
  enrolLink: (app) => `Toevoegen met de app ${app}`,
  showQr: 'Toon de QR-code',
  cantScan: 'Lukt scannen niet?',
  cantScanHelp: (app, link) => `Op de telefoon met de app ${app}: ${link}, of kopieer hem naar de app:`,
  openLink: 'open deze app-link',
  appLink: 'App-link',
  codeValid: (time) => `Code nog ${time} geldig`,
  logout: 'Uitloggen',
  consentAsks: (app, scopes) => `${app} vraagt om je account te gebruiken: ${scopes}.`,
  allow: 'Toestaan',
  refuse: 'Weigeren',
  newCode: 'Nieuwe code',
  push: 'Stuur een inlogverzoek naar mijn telefoon',
  scanned: 'Code gescand. Bevestig op je telefoon.',
  confirmLogin: 'Bevestig het inloggen op je telefoon.',
  pickNumber: 'Kies dit getal op je telefoon:',
  sending: 'Inlogverzoek wordt naar je telefoon gestuurd…',
  cancelled: 'Geannuleerd op de telefoon.',
  noAccounts: 'Er is geen telefoon om een inlogverzoek naar te sturen. Scan de code.',
  loggedIn: 'Je bent ingelogd.',
  enrolled: 'Je telefoon is toegevoegd en ingelogd.',
  expired: 'Deze code is verlopen.',
  rateLimited: 'Te veel inlogverzoeken verstuurd. Wacht even en probeer het opnieuw.',
  cannotProvoke: 'Voor deze browser kan nog geen telefoon gevraagd worden: scan de code.',
  accountBlocked: 'Die telefoon is geblokkeerd op deze site.',
  notConnected: 'Geen verbinding met de inlogserver. Opnieuw proberen…',
  failed: (code) => `Er ging iets mis (${code}).`,
};

export const MESSAGES: Record<Lang, Messages> = { en, de, fr, nl };

/** The language of a tag the catalogue has (`de`, `DE`, `de-CH` → de), else undefined. */
export function langOf(tag: string | null | undefined): Lang | undefined {
  const primary = String(tag ?? '')
    .trim()
    .split('-')[0]!
    .toLowerCase();
  return (LANGS as readonly string[]).indexOf(primary) >= 0 ? (primary as Lang) : undefined;
}

/** The words of a tag's language, English when the catalogue lacks it. */
export const messagesFor = (tag: string | null | undefined): Messages => MESSAGES[langOf(tag) ?? 'en'];

/**
 * The language an `Accept-Language` header (RFC 9110 §12.5.4) asks for among the catalogue's:
 * the one with the highest q (a range counts for its primary language, `de-CH` for de; `*` for
 * every language no range names; q=0 refuses), the earlier range on a tie. English when it names
 * none of them.
 */
export function negotiateLang(header: string | undefined): Lang {
  const weights = new Map<Lang, { q: number; at: number }>();
  let any: { q: number; at: number } | undefined;
  (header ?? '').split(',').forEach((part, at) => {
    const [range = '', ...params] = part.split(';').map((s) => s.trim());
    if (!range) return;
    const qParam = params.find((p) => /^q\s*=/i.test(p));
    const q = qParam ? Number(qParam.replace(/^q\s*=\s*/i, '')) : 1;
    if (!Number.isFinite(q) || q < 0 || q > 1) return;
    if (range === '*') {
      any ??= { q, at };
      return;
    }
    const lang = langOf(range);
    // A language named by several ranges (de-CH;q=1, de;q=0.5) takes the best of them.
    if (lang && q > (weights.get(lang)?.q ?? -1)) weights.set(lang, { q, at });
  });
  let best: { lang: Lang; q: number; at: number } = { lang: 'en', q: 0, at: Infinity };
  for (const lang of LANGS) {
    const w = weights.get(lang) ?? any;
    if (w && w.q > 0 && (w.q > best.q || (w.q === best.q && w.at < best.at))) best = { lang, ...w };
  }
  return best.lang;
}
