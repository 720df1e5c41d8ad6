;;; eglot_check.el --- drive Eglot against trust-lsp in batch mode  -*- lexical-binding: t -*-
;;
;; emacs --batch -l eglot_check.el  with TRUST_TEST_LSP, TRUST_TEST_OLLAMA, TRUST_TEST_WORKDIR set.
;; Uses the configuration documented in docs/editors.md, then: connects, asks trust.status,
;; runs "Ask Trust: Fix" through eglot-code-actions and checks the edit, and runs trust.chat.
;; Prints "N passed, M failed" and exits non-zero on failure.

(require 'eglot)
(require 'python)

(defvar trust-checks 0)
(defvar trust-failures 0)

(defun trust-check (ok what)
  (setq trust-checks (1+ trust-checks))
  (if ok
      (princ (format "ok: %s\n" what))
    (setq trust-failures (1+ trust-failures))
    (princ (format "FAIL: %s\n" what))))

(defun trust-wait (pred seconds)
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall pred)))

(let* ((lsp (getenv "TRUST_TEST_LSP"))
       (url (getenv "TRUST_TEST_OLLAMA"))
       (dir (file-name-as-directory (getenv "TRUST_TEST_WORKDIR")))
       (file (expand-file-name "calc.py" dir)))
  ;; --- the snippet from docs/editors.md (with the test server's URL) ---
  (add-to-list 'eglot-server-programs
               `((python-mode) . (,lsp :initializationOptions
                                       (:backends (:ollama (:url ,url))
                                        :fallback (:order ["ollama"])
                                        :server (:preheat :json-false)))))
  (setq-default eglot-workspace-configuration
                `((:trust . (:backends (:ollama (:url ,url)) :fallback (:order ["ollama"])))))
  ;; ---
  (setq eglot-confirm-server-initiated-edits nil)
  (with-temp-file file (insert "def add(a, b):\n    return a - b\n\nprint(add(1, 2))\n"))
  (find-file file)
  (python-mode)
  (condition-case err
      (progn
        (apply #'eglot (eglot--guess-contact))
        (trust-check (trust-wait (lambda () (eglot-current-server)) 30) "eglot connects to trust-lsp")
        (let* ((server (eglot-current-server))
               (status (jsonrpc-request server :workspace/executeCommand
                                        '(:command "trust.status" :arguments []))))
          (princ (format "status backends: %S\n" (plist-get status :backends)))
          (trust-check (plist-get status :version) "trust.status answers with a version")
          ;; Ask Trust: Fix on the first two lines, as M-x eglot-code-actions would.
          (let* ((beg (point-min))
                 (end (save-excursion (goto-char (point-min)) (forward-line 2) (point)))
                 (actions (eglot-code-actions beg end nil nil))
                 (titles (mapcar (lambda (a) (plist-get a :title)) actions))
                 (fix (seq-find (lambda (a) (equal (plist-get a :title) "Ask Trust: Fix")) actions)))
            (princ (format "actions: %S\n" titles))
            (trust-check fix "Ask Trust: Fix is offered")
            (when fix
              (cl-letf (((symbol-function 'completing-read)
                         (lambda (&rest _) "Ask Trust: Fix")))
                (let ((last-nonmenu-event ?\r)) ; a key, not a mouse event: use completing-read
                  (eglot--read-execute-code-action (list fix) server)))
              (trust-check (trust-wait (lambda ()
                                         (string-match-p "return a \\+ b" (buffer-string)))
                                       30)
                           "the Fix edit is applied to the buffer")
              (princ (format "buffer:\n%s\n" (buffer-string)))))
          ;; Chat: the whole answer comes back as the command's result.
          (let ((result (jsonrpc-request server :workspace/executeCommand
                                         '(:command "trust.chat" :arguments [(:prompt "hello")])
                                         :timeout 60)))
            (princ (format "chat: %S\n" (plist-get result :text)))
            (trust-check (equal (plist-get result :backend) "ollama") "trust.chat answers from ollama"))))
    (error (trust-check nil (format "error: %S" err))))
  (princ (format "%d passed, %d failed\n" (- trust-checks trust-failures) trust-failures))
  (ignore-errors (eglot-shutdown (eglot-current-server)))
  (kill-emacs (if (> trust-failures 0) 1 0)))
