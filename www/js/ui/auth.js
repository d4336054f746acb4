// The login and sign-up screen, with the API's errors shown inline.

import { h, replaceChildren } from '../dom.js';

const USERNAME_PATTERN = '[A-Za-z0-9_.\\-]{3,32}';

/** Returns the text shown for a failed login or sign-up. */
export function authErrorText(error, mode) {
  switch (error.code) {
    case 'username_taken':
      return 'That username is taken. Pick another one.';
    case 'invalid_credentials':
      return 'Wrong username or password.';
    case 'rate_limited':
      return error.retryAfter != null
        ? `Too many attempts. Try again in ${error.retryAfter} s.`
        : 'Too many attempts. Wait a moment and try again.';
    case 'network_error':
      return error.message;
    default:
      return error.message || (mode === 'login' ? 'Logging in failed.' : 'Signing up failed.');
  }
}

/**
 * Renders the auth screen into `root`. login(username, password) and
 * register(username, password, displayName) return promises of the user.
 */
export function showAuth({ root, login, register, onAuthenticated }) {
  let mode = 'login';
  let retryTimer = null;

  const heading = h('h1', { className: 'auth-title', id: 'auth-title' });
  const intro = h('p', { className: 'auth-intro' });
  const error = h('p', { className: 'form-error', id: 'auth-error', role: 'alert' });

  const username = h('input', {
    id: 'auth-username',
    name: 'username',
    type: 'text',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
    minlength: '3',
    maxlength: '32',
    pattern: USERNAME_PATTERN,
    'aria-describedby': 'auth-username-hint auth-error',
  });
  const usernameHint = h('span', { className: 'field-hint', id: 'auth-username-hint' },
    '3 to 32 characters: letters, digits, _ . -');
  const password = h('input', {
    id: 'auth-password',
    name: 'password',
    type: 'password',
    required: true,
    minlength: '8',
    maxlength: '1024',
    'aria-describedby': 'auth-password-hint auth-error',
  });
  const passwordHint = h('span', { className: 'field-hint', id: 'auth-password-hint' }, 'At least 8 characters.');
  const displayName = h('input', {
    id: 'auth-display-name',
    name: 'display_name',
    type: 'text',
    autocomplete: 'nickname',
    maxlength: '64',
    'aria-describedby': 'auth-error',
  });
  const displayNameField = h('div', { className: 'field' },
    h('label', { for: 'auth-display-name' }, 'Display name ', h('span', { className: 'optional' }, '(optional)')),
    displayName);

  const submit = h('button', { type: 'submit', className: 'button primary wide' });
  const switchText = h('span');
  const switchButton = h('button', { type: 'button', className: 'link-button', onclick: () => setMode(mode === 'login' ? 'register' : 'login') });

  const form = h('form', { className: 'auth-form', 'aria-labelledby': 'auth-title', noValidate: true },
    h('div', { className: 'field' }, h('label', { for: 'auth-username' }, 'Username'), username, usernameHint),
    h('div', { className: 'field' }, h('label', { for: 'auth-password' }, 'Password'), password, passwordHint),
    displayNameField,
    error,
    submit);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const problem = validate();
    if (problem) {
      showError(problem.text, problem.field);
      return;
    }
    showError('');
    setBusy(true);
    try {
      const user = mode === 'login'
        ? await login(username.value.trim(), password.value)
        : await register(username.value.trim(), password.value, displayName.value.trim());
      password.value = '';
      onAuthenticated(user);
    } catch (failure) {
      showError(authErrorText(failure, mode), failure.code === 'username_taken' ? username : null);
      if (failure.code === 'rate_limited' && failure.retryAfter) holdFor(failure.retryAfter);
    } finally {
      setBusy(false);
    }
  });

  function validate() {
    const name = username.value.trim();
    if (!new RegExp(`^${USERNAME_PATTERN}$`).test(name)) {
      return { text: 'Usernames have 3 to 32 characters: letters, digits, _ . or -.', field: username };
    }
    const bytes = new TextEncoder().encode(password.value).length;
    if (bytes < 8) return { text: 'Passwords have at least 8 characters.', field: password };
    if (bytes > 1024) return { text: 'Passwords have at most 1024 bytes.', field: password };
    if (mode === 'register' && [...displayName.value.trim()].length > 64) {
      return { text: 'Display names have at most 64 characters.', field: displayName };
    }
    return null;
  }

  function showError(text, field = null) {
    error.textContent = text;
    for (const input of [username, password, displayName]) input.removeAttribute('aria-invalid');
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }

  // Keeps the submit button disabled while the server's Retry-After runs,
  // counting down in the error text.
  function holdFor(seconds) {
    clearInterval(retryTimer);
    let left = seconds;
    submit.disabled = true;
    retryTimer = setInterval(() => {
      left -= 1;
      if (left <= 0) {
        clearInterval(retryTimer);
        retryTimer = null;
        submit.disabled = false;
        showError('');
        return;
      }
      error.textContent = `Too many attempts. Try again in ${left} s.`;
    }, 1000);
  }

  function setBusy(busy) {
    form.setAttribute('aria-busy', busy ? 'true' : 'false');
    if (!retryTimer || busy) submit.disabled = busy;
    submit.textContent = busy
      ? (mode === 'login' ? 'Logging in…' : 'Creating account…')
      : (mode === 'login' ? 'Log in' : 'Create account');
  }

  function setMode(next) {
    mode = next;
    clearInterval(retryTimer);
    retryTimer = null;
    heading.textContent = mode === 'login' ? 'Welcome back' : 'Create your account';
    intro.textContent = mode === 'login' ? 'Log in to BlinkChat.' : 'Sign up to start chatting.';
    switchText.textContent = mode === 'login' ? 'New here? ' : 'Already have an account? ';
    switchButton.textContent = mode === 'login' ? 'Create an account' : 'Log in';
    displayNameField.hidden = mode === 'login';
    password.setAttribute('autocomplete', mode === 'login' ? 'current-password' : 'new-password');
    passwordHint.hidden = mode === 'login';
    usernameHint.hidden = mode === 'login';
    form.dataset.mode = mode;
    showError('');
    setBusy(false);
  }

  setMode('login');
  replaceChildren(root,
    h('div', { className: 'auth-card' },
      h('div', { className: 'brand' }, h('span', { className: 'brand-mark', 'aria-hidden': 'true' }, 'B'), 'BlinkChat'),
      heading,
      intro,
      form,
      h('p', { className: 'auth-switch' }, switchText, switchButton)));
  username.focus();

  return {
    dispose() {
      clearInterval(retryTimer);
    },
  };
}
