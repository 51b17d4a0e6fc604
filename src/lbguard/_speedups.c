/*
 * lbguard._speedups: C twins of the HAProxy parser's three hottest loops.
 *
 * A generated 125k-line config is 100k `server` lines, and in pure Python each
 * one costs about 4.5 us over three passes (cut into words, validate, build the
 * model's Server and its two Locations). That is most of a check, and most of
 * it is the interpreter allocating and filling objects, which C does for a tenth
 * of the price. So this module does exactly that and nothing else:
 *
 *   Builder      fills a frozen, slotted dataclass from positional arguments,
 *                as model.positional_constructor does in Python;
 *   lex_run      haproxy.lex_run_py: the plain lines of a section body;
 *   plain_columns  haproxy_lexer.plain_columns_py: where the words of a line are;
 *   stmt_directive haproxy.stmt_directive_py: a statement's Directive and span;
 *   check_pool   haproxy.check_pool_py: a backend body's clean server lines;
 *   build_pool   haproxy.build_pool_py: a backend body's plain server lines.
 *
 * Each function handles only the common, plain case and hands every other line
 * back to the Python code it mirrors, so there is one definition of the grammar:
 * the Python one. Tests run both and require identical models and findings.
 * The extension is optional: without a compiler lbguard runs the Python twins.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#if PY_VERSION_HEX >= 0x030C0000
#define LBG_T_OBJECT_EX Py_T_OBJECT_EX
#define LBG_READONLY Py_READONLY
#else
#define LBG_T_OBJECT_EX T_OBJECT_EX
#define LBG_READONLY READONLY
#endif

/* ------------------------------------------------------------------ Builder */

#define MAX_FIELDS 32

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyTypeObject *cls;
    Py_ssize_t nfields;
    Py_ssize_t offsets[MAX_FIELDS];
} Builder;

static PyTypeObject BuilderType;

#define SLOT(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

/* A new instance of b->cls with its slots set to args (new references taken). */
static PyObject *
builder_fill(Builder *b, PyObject *const *args)
{
    PyObject *obj = b->cls->tp_alloc(b->cls, 0);
    if (obj == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < b->nfields; i++) {
        Py_INCREF(args[i]);
        SLOT(obj, b->offsets[i]) = args[i];
    }
    return obj;
}

static PyObject *
builder_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Builder *b = (Builder *)self;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if ((kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) || nargs != b->nfields) {
        PyErr_Format(PyExc_TypeError, "%s builder takes exactly %zd positional arguments",
                     b->cls->tp_name, b->nfields);
        return NULL;
    }
    return builder_fill(b, args);
}

/* Builder(cls, names): `names` are cls's slots, in the order arguments come. */
static PyObject *
builder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *cls_obj, *names;
    if (!PyArg_ParseTuple(args, "O!O!:Builder", &PyType_Type, &cls_obj, &PyTuple_Type, &names)) {
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)cls_obj;
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (n > MAX_FIELDS) {
        PyErr_Format(PyExc_TypeError, "%s has more than %d fields", cls->tp_name, MAX_FIELDS);
        return NULL;
    }
    if (cls->tp_alloc == NULL || cls->tp_dictoffset != 0) {
        PyErr_Format(PyExc_TypeError, "%s is not a slotted class", cls->tp_name);
        return NULL;
    }
    Builder *b = (Builder *)type->tp_alloc(type, 0);
    if (b == NULL) {
        return NULL;
    }
    b->vectorcall = builder_vectorcall;
    b->nfields = n;
    b->cls = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        /* The class's own slot descriptor, not one inherited or shadowed. */
        PyObject *descr = PyUnicode_Check(name) ? PyDict_GetItemWithError(cls->tp_dict, name)
                                                : NULL;
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_TypeError, "%s has no slot %R", cls->tp_name, name);
            }
            Py_DECREF(b);
            return NULL;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != LBG_T_OBJECT_EX || (member->flags & LBG_READONLY) ||
            member->offset <= 0 || member->offset >= cls->tp_basicsize) {
            PyErr_Format(PyExc_TypeError, "%s slot %R is not a plain object slot",
                         cls->tp_name, name);
            Py_DECREF(b);
            return NULL;
        }
        b->offsets[i] = member->offset;
    }
    Py_INCREF(cls);
    b->cls = cls;
    return (PyObject *)b;
}

static void
builder_dealloc(Builder *b)
{
    Py_XDECREF(b->cls);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

static PyObject *
builder_get_cls(Builder *b, void *closure)
{
    return Py_NewRef((PyObject *)b->cls);
}

static PyGetSetDef builder_getset[] = {
    {"cls", (getter)builder_get_cls, NULL, "The class this builder fills.", NULL},
    {NULL},
};

static PyTypeObject BuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lbguard._speedups.Builder",
    .tp_basicsize = sizeof(Builder),
    .tp_dealloc = (destructor)builder_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(Builder, vectorcall),
    .tp_doc = "Builder(cls, names): fills cls's slots from positional arguments.",
    .tp_getset = builder_getset,
    .tp_new = builder_new,
};

static PyObject *new_location(Builder *locations, PyObject *path, PyObject *lineno,
                              Py_ssize_t col, Py_ssize_t end);
static PyObject *plain_columns_of(PyObject *text, PyObject *words);

/* ------------------------------------------------------------- _Stmt fields */

/* The order of haproxy._Stmt's fields, which the _Stmt builder is made with. */
enum {
    STMT_WORDS,
    STMT_COLS,
    STMT_PATH,
    STMT_LINENO,
    STMT_QUOTED,
    STMT_RAW,
    STMT_SPAN,
    STMT_DIRECTIVE,
    STMT_INHERITED,
    STMT_ADDRESS,
    STMT_NFIELDS,
};

/* Fields of haproxy._ServerFields, and of model.Server, in order. */
#define SERVER_FIELDS_LEN 9
#define SERVER_NFIELDS 17
#define LOCATION_NFIELDS 5

static PyObject *str_server; /* "server", interned */

static Builder *
as_builder(PyObject *obj, Py_ssize_t nfields, const char *what)
{
    if (!Py_IS_TYPE(obj, &BuilderType) || ((Builder *)obj)->nfields != nfields) {
        PyErr_Format(PyExc_TypeError, "expected the %s builder", what);
        return NULL;
    }
    return (Builder *)obj;
}

/* A statement's field, borrowed; NULL with TypeError if `stmt` is not a _Stmt. */
static inline PyObject *
stmt_field(Builder *stmts, PyObject *stmt, int field)
{
    if (Py_TYPE(stmt) != stmts->cls) {
        PyErr_SetString(PyExc_TypeError, "expected a _Stmt");
        return NULL;
    }
    return SLOT(stmt, stmts->offsets[field]);
}

static inline int
is_server_word(PyObject *word)
{
    return word == str_server || (PyUnicode_GET_LENGTH(word) == 6 &&
                                  PyUnicode_CompareWithASCIIString(word, "server") == 0);
}

/* ---------------------------------------------------------------- WordTable */

/*
 * One str object per distinct word of a parse. A big config repeats a few hundred
 * words (keywords, option values, server names) a hundred thousand times; looking
 * a word up by its bytes costs less than allocating it, hashing it and dropping
 * the copy. Only for one-byte (Latin-1) lines; other lines allocate their words.
 */
typedef struct {
    PyObject_HEAD
    size_t mask; /* capacity - 1, a power of two */
    size_t used;
    PyObject **slots; /* owned references; NULL where empty */
} WordTable;

static PyTypeObject WordTableType;

static void
wordtable_dealloc(WordTable *t)
{
    if (t->slots != NULL) {
        for (size_t i = 0; i <= t->mask; i++) {
            Py_XDECREF(t->slots[i]);
        }
        PyMem_Free(t->slots);
    }
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *
wordtable_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "WordTable() takes no arguments");
        return NULL;
    }
    WordTable *t = (WordTable *)type->tp_alloc(type, 0);
    if (t == NULL) {
        return NULL;
    }
    t->mask = 1023;
    t->used = 0;
    t->slots = PyMem_Calloc(t->mask + 1, sizeof(PyObject *));
    if (t->slots == NULL) {
        Py_DECREF(t);
        return PyErr_NoMemory();
    }
    return (PyObject *)t;
}

static Py_ssize_t
wordtable_len(WordTable *t)
{
    return (Py_ssize_t)t->used;
}

static inline size_t
fnv1a(const Py_UCS1 *p, Py_ssize_t n)
{
    size_t h = (size_t)1469598103934665603ULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * (size_t)1099511628211ULL;
    }
    return h;
}

static int
wordtable_grow(WordTable *t)
{
    size_t cap = (t->mask + 1) * 2;
    PyObject **slots = PyMem_Calloc(cap, sizeof(PyObject *));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i <= t->mask; i++) {
        PyObject *w = t->slots[i];
        if (w == NULL) {
            continue;
        }
        size_t j = fnv1a(PyUnicode_1BYTE_DATA(w), PyUnicode_GET_LENGTH(w)) & (cap - 1);
        while (slots[j] != NULL) {
            j = (j + 1) & (cap - 1);
        }
        slots[j] = w;
    }
    PyMem_Free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return 0;
}

/* The word raw[begin:end] (a new reference), from the table when it was seen. */
static PyObject *
wordtable_word(WordTable *t, PyObject *raw, Py_ssize_t begin, Py_ssize_t end)
{
    if (t == NULL || PyUnicode_KIND(raw) != PyUnicode_1BYTE_KIND) {
        return PyUnicode_Substring(raw, begin, end);
    }
    const Py_UCS1 *p = PyUnicode_1BYTE_DATA(raw) + begin;
    Py_ssize_t n = end - begin;
    size_t i = fnv1a(p, n) & t->mask;
    PyObject *w;
    while ((w = t->slots[i]) != NULL) {
        if (PyUnicode_GET_LENGTH(w) == n && memcmp(PyUnicode_1BYTE_DATA(w), p, (size_t)n) == 0) {
            return Py_NewRef(w);
        }
        i = (i + 1) & t->mask;
    }
    w = PyUnicode_Substring(raw, begin, end);
    if (w == NULL) {
        return NULL;
    }
    if (PyUnicode_KIND(w) != PyUnicode_1BYTE_KIND) {
        return w; /* cannot happen for a slice of a one-byte string; kept out anyway */
    }
    t->slots[i] = Py_NewRef(w);
    t->used++;
    if (t->used * 2 > t->mask + 1 && wordtable_grow(t) < 0) {
        Py_DECREF(w);
        return NULL;
    }
    return w;
}

static PySequenceMethods wordtable_as_sequence = {
    .sq_length = (lenfunc)wordtable_len,
};

static PyTypeObject WordTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lbguard._speedups.WordTable",
    .tp_basicsize = sizeof(WordTable),
    .tp_dealloc = (destructor)wordtable_dealloc,
    .tp_as_sequence = &wordtable_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "WordTable(): one str per distinct word of a parse (for lex_run).",
    .tp_new = wordtable_new,
};

/* ------------------------------------------------------------------ lex_run */

static inline int
is_special(Py_UCS4 c)
{
    return c == '"' || c == '\'' || c == '\\' || c == '#' || c == '$';
}

/*
 * lex_run(lines, start, stop, path, sections, stmt_builder, unquoted, max_words, seen)
 *     -> (statements, index)
 *
 * haproxy.lex_run_py, in C: from lines[start], each plain line (no quote, escape,
 * '#' or '$', not starting with '.', a word that opens no section, at most
 * max_words words) becomes a _Stmt; blank lines are skipped. Stops at the first
 * other line and returns its index, or `stop`. `seen` is the parse's WordTable
 * (or None): one object per distinct word.
 */
static PyObject *
lex_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "lex_run takes 9 arguments");
        return NULL;
    }
    PyObject *lines = args[0], *path = args[3], *sections = args[4], *unquoted = args[6];
    PyObject *seen = args[8];
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    Py_ssize_t stop = PyLong_AsSsize_t(args[2]);
    Py_ssize_t max_words = PyLong_AsSsize_t(args[7]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Builder *stmts = as_builder(args[5], STMT_NFIELDS, "_Stmt");
    if (stmts == NULL) {
        return NULL;
    }
    WordTable *table = Py_IS_TYPE(seen, &WordTableType) ? (WordTable *)seen : NULL;
    if (!PyList_Check(lines) || !PyAnySet_Check(sections) || (table == NULL && seen != Py_None) ||
        max_words < 1) {
        PyErr_SetString(PyExc_TypeError, "lex_run: bad arguments");
        return NULL;
    }
    if (stop > PyList_GET_SIZE(lines)) {
        stop = PyList_GET_SIZE(lines);
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    Py_ssize_t *bounds = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * (size_t)(max_words + 1));
    if (bounds == NULL) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    for (; i < stop; i++) {
        PyObject *raw = PyList_GET_ITEM(lines, i);
        if (!PyUnicode_Check(raw)) {
            PyErr_SetString(PyExc_TypeError, "lex_run: lines must be str");
            goto fail;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(raw);
        int kind = PyUnicode_KIND(raw);
        const void *data = PyUnicode_DATA(raw);
        Py_ssize_t s = 0;
        while (s < len && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, s))) {
            s++;
        }
        if (s == len) {
            continue; /* blank */
        }
        if (PyUnicode_READ(kind, data, s) == '.') {
            break;
        }
        /* One walk over the words (the blanks before them hold nothing special):
         * where each starts and ends. A special character, or one word too many,
         * leaves the line to the Python code. */
        Py_ssize_t nwords = 0;
        int plain = 1;
        Py_ssize_t j = s;
        while (plain && j < len) {
            Py_UCS4 c = PyUnicode_READ(kind, data, j);
            if (Py_UNICODE_ISSPACE(c)) {
                j++;
                continue;
            }
            if (nwords == max_words) {
                plain = 0;
                break;
            }
            Py_ssize_t begin = j;
            while (j < len) {
                c = PyUnicode_READ(kind, data, j);
                if (Py_UNICODE_ISSPACE(c)) {
                    break;
                }
                if (is_special(c)) {
                    plain = 0;
                    break;
                }
                j++;
            }
            bounds[2 * nwords] = begin;
            bounds[2 * nwords + 1] = j;
            nwords++;
        }
        if (!plain) {
            break;
        }
        PyObject *words = PyTuple_New(nwords);
        if (words == NULL) {
            goto fail;
        }
        for (Py_ssize_t w = 0; w < nwords; w++) {
            PyObject *word = wordtable_word(table, raw, bounds[2 * w], bounds[2 * w + 1]);
            if (word == NULL) {
                Py_DECREF(words);
                goto fail;
            }
            PyTuple_SET_ITEM(words, w, word);
        }
        int opens = PySet_Contains(sections, PyTuple_GET_ITEM(words, 0));
        if (opens != 0) {
            Py_DECREF(words);
            if (opens < 0) {
                goto fail;
            }
            break;
        }
        PyObject *lineno = PyLong_FromSsize_t(i + 1);
        if (lineno == NULL) {
            Py_DECREF(words);
            goto fail;
        }
        PyObject *fields[STMT_NFIELDS] = {words, Py_None, path,    lineno,  unquoted,
                                          raw,   Py_None, Py_None, Py_None, Py_None};
        PyObject *stmt = builder_fill(stmts, fields);
        Py_DECREF(words);
        Py_DECREF(lineno);
        if (stmt == NULL) {
            goto fail;
        }
        int rc = PyList_Append(out, stmt);
        Py_DECREF(stmt);
        if (rc < 0) {
            goto fail;
        }
    }
    PyMem_Free(bounds);
    PyObject *result = Py_BuildValue("(Nn)", out, i);
    return result;
fail:
    PyMem_Free(bounds);
    Py_DECREF(out);
    return NULL;
}

/*
 * plain_columns(text, words) -> tuple[int, ...]
 *
 * haproxy_lexer.plain_columns_py, in C: the 1-based column of each word, each found
 * with str.find from where the previous one ended.
 */
static PyObject *
plain_columns(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "plain_columns(text: str, words: tuple)");
        return NULL;
    }
    return plain_columns_of(args[0], args[1]);
}

static PyObject *
plain_columns_of(PyObject *text, PyObject *words)
{
    Py_ssize_t n = PyTuple_GET_SIZE(words);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    PyObject *cols = PyTuple_New(n);
    if (cols == NULL) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *word = PyTuple_GET_ITEM(words, i);
        if (!PyUnicode_Check(word)) {
            Py_DECREF(cols);
            PyErr_SetString(PyExc_TypeError, "plain_columns: words must be str");
            return NULL;
        }
        /* str.find clamps a start past the end, and so does this. */
        Py_ssize_t start = pos < 0 ? (pos + len < 0 ? 0 : pos + len) : pos;
        Py_ssize_t at = start > len ? -1 : PyUnicode_Find(text, word, start, len, 1);
        if (at == -2) {
            Py_DECREF(cols);
            return NULL;
        }
        PyObject *col = PyLong_FromSsize_t(at + 1);
        if (col == NULL) {
            Py_DECREF(cols);
            return NULL;
        }
        PyTuple_SET_ITEM(cols, i, col);
        pos = at + PyUnicode_GET_LENGTH(word);
    }
    return cols;
}

/*
 * stmt_directive(stmt_builder, location_builder, directive_builder, stmt, inherited_from)
 *     -> Directive
 *
 * haproxy.stmt_directive_py, in C: the statement's Directive, with its span and
 * columns worked out (and kept on the statement) as _Stmt.span() and
 * _Stmt.columns would. A statement without words goes to the caller's Python.
 */
#define DIRECTIVE_NFIELDS 5

static PyObject *
stmt_directive(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "stmt_directive takes 5 arguments");
        return NULL;
    }
    Builder *stmts = as_builder(args[0], STMT_NFIELDS, "_Stmt");
    Builder *locations = stmts == NULL ? NULL : as_builder(args[1], LOCATION_NFIELDS, "Location");
    Builder *directives =
        locations == NULL ? NULL : as_builder(args[2], DIRECTIVE_NFIELDS, "Directive");
    if (directives == NULL) {
        return NULL;
    }
    PyObject *stmt = args[3], *origin = args[4];
    PyObject *words = stmt_field(stmts, stmt, STMT_WORDS);
    if (words == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(words);
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "stmt_directive: a statement without words");
        return NULL;
    }
    PyObject *path = SLOT(stmt, stmts->offsets[STMT_PATH]);
    PyObject *lineno = SLOT(stmt, stmts->offsets[STMT_LINENO]);
    PyObject *cols = SLOT(stmt, stmts->offsets[STMT_COLS]);
    PyObject *span = SLOT(stmt, stmts->offsets[STMT_SPAN]);
    if (span == Py_None) {
        Py_ssize_t start, end;
        if (cols == Py_None) {
            /* A plain line: from its first non-blank to its last. */
            PyObject *raw = SLOT(stmt, stmts->offsets[STMT_RAW]);
            Py_ssize_t len = PyUnicode_GET_LENGTH(raw);
            int kind = PyUnicode_KIND(raw);
            const void *data = PyUnicode_DATA(raw);
            start = 0;
            while (start < len && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, start))) {
                start++;
            }
            end = len;
            while (end > 0 && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, end - 1))) {
                end--;
            }
            start += 1;
        } else {
            if (!PyTuple_Check(cols) || PyTuple_GET_SIZE(cols) != n) {
                PyErr_SetString(PyExc_TypeError, "stmt_directive: columns do not match words");
                return NULL;
            }
            start = PyLong_AsSsize_t(PyTuple_GET_ITEM(cols, 0));
            Py_ssize_t last = PyLong_AsSsize_t(PyTuple_GET_ITEM(cols, n - 1));
            if (PyErr_Occurred()) {
                return NULL;
            }
            Py_ssize_t width = PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(words, n - 1));
            end = last + (width ? width : 1) - 1;
        }
        span = new_location(locations, path, lineno, start, end);
        if (span == NULL) {
            return NULL;
        }
        PyObject *old = SLOT(stmt, stmts->offsets[STMT_SPAN]);
        SLOT(stmt, stmts->offsets[STMT_SPAN]) = span; /* the statement owns it now */
        Py_XDECREF(old);
    }
    if (cols == Py_None) {
        cols = plain_columns_of(SLOT(stmt, stmts->offsets[STMT_RAW]), words);
        if (cols == NULL) {
            return NULL;
        }
        PyObject *old = SLOT(stmt, stmts->offsets[STMT_COLS]);
        SLOT(stmt, stmts->offsets[STMT_COLS]) = cols;
        Py_XDECREF(old);
    }
    PyObject *rest = PyTuple_GetSlice(words, 1, n);
    PyObject *arg_cols = rest == NULL ? NULL : PyTuple_GetSlice(cols, 1, n);
    if (arg_cols == NULL) {
        Py_XDECREF(rest);
        return NULL;
    }
    PyObject *fields[DIRECTIVE_NFIELDS] = {PyTuple_GET_ITEM(words, 0), rest, span, origin,
                                           arg_cols};
    PyObject *directive = builder_fill(directives, fields);
    Py_DECREF(rest);
    Py_DECREF(arg_cols);
    return directive;
}

/* ------------------------------------------------------------ split_address */

/*
 * haproxy.split_address's first branch, for a `host:port` with a numeric port of
 * at most 65535 that validation accepts without a word: returns 1 and sets *host,
 * *port (new references) and *port_text (borrowed: the caller keeps `text`, so a
 * new substring is made for it). Returns 0 when the general code must decide.
 */
static int
split_host_port(PyObject *text, PyObject **host, PyObject **port, PyObject **port_text)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t colon = -1;
    for (Py_ssize_t k = 0; k < len; k++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, k);
        if (c == '@') {
            return 0;
        }
        if (c == ':') {
            if (colon >= 0) {
                return 0; /* a second colon: IPv6 or a bad port */
            }
            colon = k;
        }
    }
    if (colon <= 0) {
        return 0;
    }
    Py_UCS4 first = PyUnicode_READ(kind, data, 0);
    if (first == '/' || first == '[') {
        return 0;
    }
    Py_ssize_t ndigits = len - colon - 1;
    if (ndigits < 1 || ndigits > 5) {
        return 0;
    }
    long value = 0;
    for (Py_ssize_t k = colon + 1; k < len; k++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, k);
        if (c < '0' || c > '9') {
            return 0;
        }
        value = value * 10 + (long)(c - '0');
    }
    if (value > 65535) {
        return 0;
    }
    *host = PyUnicode_Substring(text, 0, colon);
    if (*host == NULL) {
        return -1;
    }
    *port = PyLong_FromLong(value);
    if (*port == NULL) {
        Py_CLEAR(*host);
        return -1;
    }
    *port_text = PyUnicode_Substring(text, colon + 1, len);
    if (*port_text == NULL) {
        Py_CLEAR(*host);
        Py_CLEAR(*port);
        return -1;
    }
    return 1;
}

/* Call fn(arg) and drop the result; -1 on error. */
static inline int
call_for_effect(PyObject *fn, PyObject *arg)
{
    PyObject *r = PyObject_CallOneArg(fn, arg);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* --------------------------------------------------------------- check_pool */

/*
 * check_pool(body, names, clean_options, stmt_builder, check_server, check_other)
 *
 * haproxy.check_pool_py, in C: validates a backend's statements in order. A
 * server line whose name is new, whose address is a plain host:port and whose
 * options are a list already seen clean needs no finding: its name is recorded,
 * its split address kept on the statement, and nothing else happens. Every other
 * server line goes to check_server(stmt), every other statement to
 * check_other(stmt), in their place in the order.
 */
static PyObject *
check_pool(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "check_pool takes 6 arguments");
        return NULL;
    }
    PyObject *body = args[0], *names = args[1], *clean = args[2];
    PyObject *slow_server = args[4], *other = args[5];
    Builder *stmts = as_builder(args[3], STMT_NFIELDS, "_Stmt");
    if (stmts == NULL) {
        return NULL;
    }
    if (!PyList_Check(body) || !PyDict_Check(names) || !PyAnySet_Check(clean)) {
        PyErr_SetString(PyExc_TypeError, "check_pool: bad arguments");
        return NULL;
    }
    /* `body` may not change under us: the callbacks only report. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(body); i++) {
        PyObject *stmt = PyList_GET_ITEM(body, i);
        PyObject *words = stmt_field(stmts, stmt, STMT_WORDS);
        if (words == NULL) {
            return NULL;
        }
        Py_ssize_t n = PyTuple_GET_SIZE(words);
        if (n == 0 || !is_server_word(PyTuple_GET_ITEM(words, 0))) {
            Py_INCREF(stmt);
            int rc = call_for_effect(other, stmt);
            Py_DECREF(stmt);
            if (rc < 0) {
                return NULL;
            }
            continue;
        }
        int fast = 0;
        PyObject *name = NULL, *host = NULL, *port = NULL, *port_text = NULL;
        if (n >= 3) {
            name = PyTuple_GET_ITEM(words, 1);
            int seen = PyDict_Contains(names, name);
            if (seen < 0) {
                return NULL;
            }
            if (!seen) {
                fast = split_host_port(PyTuple_GET_ITEM(words, 2), &host, &port, &port_text);
                if (fast < 0) {
                    return NULL;
                }
            }
        }
        if (fast && n > 3) {
            PyObject *options = PyTuple_GetSlice(words, 3, n);
            int known = options == NULL ? -1 : PySet_Contains(clean, options);
            Py_XDECREF(options);
            if (known < 0) {
                fast = -1;
            } else if (!known) {
                fast = 0;
            }
        }
        if (fast == 1) {
            PyObject *parts = PyTuple_Pack(3, host, port, port_text);
            int rc = parts == NULL ? -1
                                   : PyDict_SetItem(names, name, SLOT(stmt, stmts->offsets[STMT_LINENO]));
            if (rc == 0) {
                PyObject *old = SLOT(stmt, stmts->offsets[STMT_ADDRESS]);
                SLOT(stmt, stmts->offsets[STMT_ADDRESS]) = parts;
                Py_XDECREF(old);
            } else {
                Py_XDECREF(parts);
                fast = -1;
            }
        }
        Py_XDECREF(host);
        Py_XDECREF(port);
        Py_XDECREF(port_text);
        if (fast < 0) {
            return NULL;
        }
        if (!fast) {
            Py_INCREF(stmt);
            int rc = call_for_effect(slow_server, stmt);
            Py_DECREF(stmt);
            if (rc < 0) {
                return NULL;
            }
        }
    }
    Py_RETURN_NONE;
}

/* --------------------------------------------------------------- build_pool */

/* The index of the first character of word `index` (0-based) of a plain line. */
static Py_ssize_t
word_start(int kind, const void *data, Py_ssize_t len, Py_ssize_t from, int index)
{
    Py_ssize_t j = from;
    for (int w = 0; w < index; w++) {
        while (j < len && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, j))) {
            j++;
        }
        while (j < len && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, j))) {
            j++;
        }
    }
    return j;
}

static PyObject *
new_location(Builder *locations, PyObject *path, PyObject *lineno, Py_ssize_t col,
             Py_ssize_t end)
{
    PyObject *c = PyLong_FromSsize_t(col);
    PyObject *e = c == NULL ? NULL : PyLong_FromSsize_t(end);
    if (e == NULL) {
        Py_XDECREF(c);
        return NULL;
    }
    PyObject *fields[LOCATION_NFIELDS] = {path, lineno, c, lineno, e};
    PyObject *loc = builder_fill(locations, fields);
    Py_DECREF(c);
    Py_DECREF(e);
    return loc;
}

/*
 * The Server for a plain server line whose address is split and whose options
 * the memo knows; a new reference, Py_None (borrowed, not increfed) when the
 * Python code must build it, or NULL on error.
 */
static PyObject *
fast_server(Builder *stmts, Builder *locations, Builder *servers, PyObject *stmt,
            PyObject *words, PyObject *memo)
{
    Py_ssize_t n = PyTuple_GET_SIZE(words);
    if (n < 3 || SLOT(stmt, stmts->offsets[STMT_COLS]) != Py_None) {
        return Py_None;
    }
    PyObject *parts = SLOT(stmt, stmts->offsets[STMT_ADDRESS]);
    PyObject *host = NULL, *port = NULL, *port_text = NULL;
    if (parts != Py_None) {
        if (!PyTuple_Check(parts) || PyTuple_GET_SIZE(parts) != 3) {
            return Py_None;
        }
        host = Py_NewRef(PyTuple_GET_ITEM(parts, 0));
        port = Py_NewRef(PyTuple_GET_ITEM(parts, 1));
    } else {
        /* Validation ran in another process, or not at all: split it here. */
        int ok = split_host_port(PyTuple_GET_ITEM(words, 2), &host, &port, &port_text);
        if (ok <= 0) {
            return ok < 0 ? NULL : Py_None;
        }
        Py_DECREF(port_text);
    }
    PyObject *result = Py_None;
    PyObject *own = PyTuple_GetSlice(words, 3, n);
    PyObject *fields = own == NULL ? NULL : PyDict_GetItemWithError(memo, own);
    Py_XDECREF(own);
    if (fields == NULL) {
        result = PyErr_Occurred() ? NULL : Py_None;
        goto done;
    }
    if (!PyTuple_Check(fields) || PyTuple_GET_SIZE(fields) != SERVER_FIELDS_LEN) {
        goto done;
    }
    PyObject *raw = SLOT(stmt, stmts->offsets[STMT_RAW]);
    PyObject *path = SLOT(stmt, stmts->offsets[STMT_PATH]);
    PyObject *lineno = SLOT(stmt, stmts->offsets[STMT_LINENO]);
    PyObject *name = PyTuple_GET_ITEM(words, 1);
    PyObject *address = PyTuple_GET_ITEM(words, 2);
    Py_ssize_t len = PyUnicode_GET_LENGTH(raw);
    int kind = PyUnicode_KIND(raw);
    const void *data = PyUnicode_DATA(raw);
    Py_ssize_t start = 0;
    while (start < len && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, start))) {
        start++;
    }
    Py_ssize_t end = len;
    while (end > start && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, end - 1))) {
        end--;
    }
    Py_ssize_t at = word_start(kind, data, len, start, 2);
    PyObject *addr_loc =
        new_location(locations, path, lineno, at + 1, at + PyUnicode_GET_LENGTH(address));
    PyObject *span = addr_loc == NULL ? NULL
                                      : new_location(locations, path, lineno, start + 1, end);
    if (span == NULL) {
        Py_XDECREF(addr_loc);
        result = NULL;
        goto done;
    }
    /* (options, weight, backup, disabled, check, maxconn, maxqueue, slowstart, agent) */
    PyObject *values[SERVER_NFIELDS] = {
        name,
        host,
        port,
        span,
        PyTuple_GET_ITEM(fields, 1),
        PyTuple_GET_ITEM(fields, 2),
        PyTuple_GET_ITEM(fields, 3),
        PyTuple_GET_ITEM(fields, 4),
        PyTuple_GET_ITEM(fields, 5),
        PyTuple_GET_ITEM(fields, 6),
        PyTuple_GET_ITEM(fields, 7),
        PyTuple_GET_ITEM(fields, 8),
        PyTuple_GET_ITEM(fields, 0),
        Py_None, /* template_count */
        address,
        Py_None, /* max_fails: nginx only */
        addr_loc,
    };
    result = builder_fill(servers, values);
    Py_DECREF(addr_loc);
    Py_DECREF(span);
done:
    Py_XDECREF(host);
    Py_XDECREF(port);
    return result;
}

/*
 * build_pool(body, servers, state, stmt_builder, location_builder, server_builder,
 *            make_server, apply)
 *
 * haproxy.build_pool_py, in C: walks a backend's statements in order. `state` is
 * (default-server options, fields memo) as `apply` last returned them. A server
 * line is built here when it is plain, its address splits as host:port and the
 * memo knows its options; otherwise make_server(stmt, defaults, memo) builds it.
 * Either way it is appended to `servers`. Every other statement goes to
 * apply(stmt), which returns the state in force after it.
 */
static PyObject *
build_pool(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "build_pool takes 8 arguments");
        return NULL;
    }
    PyObject *body = args[0], *servers = args[1], *state = args[2];
    PyObject *make_server = args[6], *apply = args[7];
    Builder *stmts = as_builder(args[3], STMT_NFIELDS, "_Stmt");
    Builder *locations = stmts == NULL ? NULL : as_builder(args[4], LOCATION_NFIELDS, "Location");
    Builder *server_b = locations == NULL ? NULL : as_builder(args[5], SERVER_NFIELDS, "Server");
    if (server_b == NULL) {
        return NULL;
    }
    if (!PyList_Check(body) || !PyList_Check(servers) || !PyTuple_Check(state) ||
        PyTuple_GET_SIZE(state) != 2 || !PyDict_Check(PyTuple_GET_ITEM(state, 1))) {
        PyErr_SetString(PyExc_TypeError, "build_pool: bad arguments");
        return NULL;
    }
    Py_INCREF(state);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(body); i++) {
        PyObject *stmt = PyList_GET_ITEM(body, i);
        PyObject *words = stmt_field(stmts, stmt, STMT_WORDS);
        if (words == NULL) {
            goto fail;
        }
        Py_ssize_t n = PyTuple_GET_SIZE(words);
        Py_INCREF(stmt);
        if (n > 0 && is_server_word(PyTuple_GET_ITEM(words, 0))) {
            if (n < 2) {
                Py_DECREF(stmt);
                continue; /* a server line without a name builds no server */
            }
            PyObject *memo = PyTuple_GET_ITEM(state, 1);
            PyObject *server = fast_server(stmts, locations, server_b, stmt, words, memo);
            if (server == Py_None) {
                server = PyObject_CallFunctionObjArgs(make_server, stmt,
                                                      PyTuple_GET_ITEM(state, 0), memo, NULL);
            }
            Py_DECREF(stmt);
            if (server == NULL) {
                goto fail;
            }
            int rc = PyList_Append(servers, server);
            Py_DECREF(server);
            if (rc < 0) {
                goto fail;
            }
            continue;
        }
        PyObject *next = PyObject_CallOneArg(apply, stmt);
        Py_DECREF(stmt);
        if (next == NULL) {
            goto fail;
        }
        if (!PyTuple_Check(next) || PyTuple_GET_SIZE(next) != 2 ||
            !PyDict_Check(PyTuple_GET_ITEM(next, 1))) {
            Py_DECREF(next);
            PyErr_SetString(PyExc_TypeError, "build_pool: apply must return (defaults, memo)");
            goto fail;
        }
        Py_SETREF(state, next);
    }
    Py_DECREF(state);
    Py_RETURN_NONE;
fail:
    Py_DECREF(state);
    return NULL;
}

/* ------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"lex_run", (PyCFunction)(void (*)(void))lex_run, METH_FASTCALL,
     "The plain lines of a section body as statements (see haproxy.lex_run_py)."},
    {"plain_columns", (PyCFunction)(void (*)(void))plain_columns, METH_FASTCALL,
     "Each word's 1-based column in a plain line (see haproxy_lexer.plain_columns_py)."},
    {"stmt_directive", (PyCFunction)(void (*)(void))stmt_directive, METH_FASTCALL,
     "A statement's Directive, its span and columns kept (see haproxy.stmt_directive_py)."},
    {"check_pool", (PyCFunction)(void (*)(void))check_pool, METH_FASTCALL,
     "Validate a backend body, clean server lines here (see haproxy.check_pool_py)."},
    {"build_pool", (PyCFunction)(void (*)(void))build_pool, METH_FASTCALL,
     "Build a backend body's servers, plain ones here (see haproxy.build_pool_py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "lbguard._speedups",
    .m_doc = "C twins of the HAProxy parser's hottest loops; see lbguard.speedups.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&BuilderType) < 0) {
        return NULL;
    }
    str_server = PyUnicode_InternFromString("server");
    if (str_server == NULL) {
        return NULL;
    }
    if (PyType_Ready(&WordTableType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&BuilderType);
    if (PyModule_AddObject(m, "Builder", (PyObject *)&BuilderType) < 0) {
        Py_DECREF(&BuilderType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&WordTableType);
    if (PyModule_AddObject(m, "WordTable", (PyObject *)&WordTableType) < 0) {
        Py_DECREF(&WordTableType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
