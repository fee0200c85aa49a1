/* faqbot web chat: sends questions to /api/ask and shows the plain-text answers. */
(function () {
  "use strict";

  var API_URL = "/api/ask";
  var REQUEST_TIMEOUT_MS = 20000;
  var MAX_SUGGESTIONS = 30;
  var SESSION_KEY = "faqbot.session";
  var LANG_KEY = "faqbot.lang";

  var STRINGS = {
    en: {
      htmlLang: "en",
      pageTitle: "Clinical Medicine FAQ · CQMU–Leicester",
      title: "Clinical Medicine FAQ",
      subtitle: "CQMU–University of Leicester joint programme",
      conversation: "Conversation",
      messages: "Messages",
      inputLabel: "Your question",
      placeholder: "Ask a question…",
      send: "Send",
      contactUs: "Contact us",
      toggleText: "中文",
      toggleLabel: "切换到中文",
      toggleLang: "zh-CN",
      you: "You said:",
      bot: "Assistant said:",
      typing: "The assistant is typing…",
      suggestions: "Suggested questions",
      greeting:
        "Hello! I answer common questions about the CQMU–University of Leicester joint Clinical Medicine " +
        "programme at the International Medical College of Chongqing Medical University: admissions, fees, " +
        "study, degrees and more.\nType your question below, or tap a topic to start.",
      starters: [
        { label: "Tuition fee", question: "How much is the tuition fee?" },
        { label: "How to apply", question: "How do I apply?" },
        { label: "Degrees awarded", question: "What degrees will I receive?" },
        { label: "All topics", question: "menu" }
      ],
      error:
        "Sorry, I could not get an answer just now. Please try again in a moment, or contact the " +
        "International Medical College directly:\nPhone: 023-68480331\nEmail: int.med@cqmu.edu.cn"
    },
    zh: {
      htmlLang: "zh-CN",
      pageTitle: "临床医学常见问题 · 重医–莱斯特",
      title: "临床医学专业 常见问题",
      subtitle: "重庆医科大学–英国莱斯特大学合作办学",
      conversation: "对话",
      messages: "消息",
      inputLabel: "您的问题",
      placeholder: "请输入您的问题…",
      send: "发送",
      contactUs: "联系我们",
      toggleText: "EN",
      toggleLabel: "Switch to English",
      toggleLang: "en",
      you: "您说：",
      bot: "助手说：",
      typing: "助手正在输入…",
      suggestions: "推荐问题",
      greeting:
        "您好！我可以解答重庆医科大学国际医学院与英国莱斯特大学合作举办的临床医学专业的常见问题，" +
        "包括招生、学费、学习安排、学位等。\n请在下方输入问题，或点击话题开始。",
      starters: [
        { label: "学费", question: "学费多少？" },
        { label: "如何报考", question: "怎么报考？" },
        { label: "获得的学位", question: "毕业获得什么学位？" },
        { label: "全部话题", question: "菜单" }
      ],
      error:
        "抱歉，暂时无法获取回答。请稍后再试，或直接联系国际医学院：\n电话：023-68480331\n邮箱：int.med@cqmu.edu.cn"
    }
  };

  /** Storage that keeps working (in memory) when localStorage is blocked. */
  function createStore() {
    var memory = {};
    return {
      get: function (key) {
        try {
          var value = window.localStorage.getItem(key);
          return value === null ? memory[key] || null : value;
        } catch (err) {
          return memory[key] || null;
        }
      },
      set: function (key, value) {
        memory[key] = value;
        try {
          window.localStorage.setItem(key, value);
        } catch (err) {
          /* private browsing or storage disabled: the in-memory copy is enough */
        }
      }
    };
  }

  /** A random v4 UUID, from crypto.randomUUID when the browser allows it. */
  function newSessionId() {
    var cryptoApi = window.crypto || window.msCrypto;
    if (cryptoApi && typeof cryptoApi.randomUUID === "function") {
      try {
        return cryptoApi.randomUUID();
      } catch (err) {
        /* not a secure context: fall through */
      }
    }
    var bytes = new Uint8Array(16);
    if (cryptoApi && typeof cryptoApi.getRandomValues === "function") {
      cryptoApi.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i += 1) {
        bytes[i] = Math.floor(Math.random() * 256);
      }
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map
      .call(bytes, function (b) {
        return (b + 0x100).toString(16).slice(1);
      })
      .join("");
    return (
      hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20)
    );
  }

  function sessionId(store) {
    var existing = store.get(SESSION_KEY);
    if (existing && /^[A-Za-z0-9-]{8,64}$/.test(existing)) {
      return existing;
    }
    var created = newSessionId();
    store.set(SESSION_KEY, created);
    return created;
  }

  function initialLang(store) {
    var saved = store.get(LANG_KEY);
    if (saved === "en" || saved === "zh") {
      return saved;
    }
    var preferred = (navigator.languages && navigator.languages[0]) || navigator.language || "";
    return /^zh/i.test(preferred) ? "zh" : "en";
  }

  /** Keeps only well-formed suggestions from a server reply. */
  function cleanSuggestions(raw) {
    if (!Array.isArray(raw)) {
      return [];
    }
    return raw
      .filter(function (item) {
        return item && typeof item.question === "string" && item.question.trim() !== "";
      })
      .slice(0, MAX_SUGGESTIONS)
      .map(function (item) {
        return { label: item.question, question: item.question };
      });
  }

  function start() {
    var store = createStore();
    var state = {
      lang: initialLang(store),
      session: sessionId(store),
      pending: false,
      greeting: null
    };

    var chat = document.getElementById("chat");
    var list = document.getElementById("messages");
    var form = document.getElementById("composer");
    var input = document.getElementById("question");
    var sendButton = document.getElementById("send");
    var langToggle = document.getElementById("lang-toggle");

    function t(key) {
      return STRINGS[state.lang][key];
    }

    function scrollToMessage(item) {
      if (item.offsetHeight > chat.clientHeight) {
        chat.scrollTop = item.offsetTop - list.offsetTop;
      } else {
        chat.scrollTop = chat.scrollHeight;
      }
    }

    function speakerLabel(role) {
      var span = document.createElement("span");
      span.className = "visually-hidden";
      span.textContent = role === "user" ? t("you") : t("bot");
      return span;
    }

    function suggestionGroup(items) {
      var group = document.createElement("div");
      group.className = "suggestions";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", t("suggestions"));
      items.forEach(function (item) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "suggestion";
        button.textContent = item.label;
        button.addEventListener("click", function () {
          ask(item.question);
        });
        group.appendChild(button);
      });
      return group;
    }

    /** Adds one message; text always goes in through textContent. */
    function addMessage(role, text, options) {
      var opts = options || {};
      var item = document.createElement("li");
      item.className = "msg " + role + (opts.error ? " error" : "");
      var bubble = document.createElement("div");
      bubble.className = "bubble";
      if (opts.lang) {
        bubble.lang = opts.lang === "zh" ? "zh-CN" : "en";
      }
      bubble.textContent = text;
      item.appendChild(speakerLabel(role));
      item.appendChild(bubble);
      if (opts.suggestions && opts.suggestions.length) {
        item.appendChild(suggestionGroup(opts.suggestions));
      }
      list.appendChild(item);
      scrollToMessage(item);
      return item;
    }

    function showTyping() {
      var item = document.createElement("li");
      item.className = "typing";
      var bubble = document.createElement("div");
      bubble.className = "typing-bubble";
      var label = document.createElement("span");
      label.className = "visually-hidden";
      label.textContent = t("typing");
      bubble.appendChild(label);
      for (var i = 0; i < 3; i += 1) {
        var dot = document.createElement("span");
        dot.className = "typing-dot";
        dot.setAttribute("aria-hidden", "true");
        bubble.appendChild(dot);
      }
      item.appendChild(bubble);
      list.appendChild(item);
      chat.scrollTop = chat.scrollHeight;
      return item;
    }

    function setPending(pending) {
      state.pending = pending;
      sendButton.disabled = pending;
    }

    function renderGreeting() {
      var replacement = document.createElement("li");
      replacement.className = "msg bot greeting";
      replacement.appendChild(speakerLabel("bot"));
      var bubble = document.createElement("div");
      bubble.className = "bubble";
      bubble.lang = t("htmlLang");
      bubble.textContent = t("greeting");
      replacement.appendChild(bubble);
      replacement.appendChild(suggestionGroup(t("starters")));
      if (state.greeting && state.greeting.parentNode === list) {
        list.replaceChild(replacement, state.greeting);
      } else {
        list.insertBefore(replacement, list.firstChild);
      }
      state.greeting = replacement;
    }

    function applyLanguage() {
      document.documentElement.lang = t("htmlLang");
      document.title = t("pageTitle");
      Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (node) {
        node.textContent = t(node.getAttribute("data-i18n"));
      });
      Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-placeholder]"), function (node) {
        node.setAttribute("placeholder", t(node.getAttribute("data-i18n-placeholder")));
      });
      list.setAttribute("aria-label", t("messages"));
      sendButton.setAttribute("aria-label", t("send"));
      langToggle.textContent = t("toggleText");
      langToggle.setAttribute("aria-label", t("toggleLabel"));
      langToggle.setAttribute("lang", t("toggleLang"));
      renderGreeting();
    }

    function fetchAnswer(question) {
      var controller = typeof AbortController === "function" ? new AbortController() : null;
      var timer = controller
        ? window.setTimeout(function () {
            controller.abort();
          }, REQUEST_TIMEOUT_MS)
        : null;
      return fetch(API_URL, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-Faqbot-Channel": "web"
        },
        credentials: "same-origin",
        body: JSON.stringify({ question: question, session: state.session, lang: state.lang }),
        signal: controller ? controller.signal : undefined
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          if (!data || typeof data.answer !== "string") {
            throw new Error("Malformed reply");
          }
          return data;
        })
        .finally(function () {
          if (timer !== null) {
            window.clearTimeout(timer);
          }
        });
    }

    function ask(rawQuestion) {
      var question = String(rawQuestion || "").trim();
      if (!question || state.pending) {
        return;
      }
      addMessage("user", question);
      setPending(true);
      var typing = showTyping();
      fetchAnswer(question)
        .then(function (data) {
          typing.remove();
          addMessage("bot", data.answer, {
            lang: data.lang === "zh" || data.lang === "en" ? data.lang : state.lang,
            suggestions: cleanSuggestions(data.suggestions)
          });
        })
        .catch(function () {
          typing.remove();
          addMessage("bot", t("error"), { error: true, lang: state.lang });
        })
        .finally(function () {
          setPending(false);
        });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var question = input.value;
      if (!question.trim() || state.pending) {
        return;
      }
      input.value = "";
      ask(question);
      input.focus();
    });

    langToggle.addEventListener("click", function () {
      state.lang = state.lang === "en" ? "zh" : "en";
      store.set(LANG_KEY, state.lang);
      applyLanguage();
    });

    applyLanguage();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
