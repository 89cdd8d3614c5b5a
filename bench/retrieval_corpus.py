"""A labelled retrieval set from a real document collection available offline: the Python
standard library's own documentation (its docstrings, as `pydoc` shows them; PSF licence).

Each documented function of the modules below is one document, `module.function.txt`.
Queries are of two kinds, each labelled with the one document that answers it:
- `literal`: the first sentence of a function's docstring, as a user who knows the wording
  would type it (picked deterministically, every 7th function);
- `paraphrased`: questions written by hand in everyday words, avoiding the docstring's
  terms where possible ("which folder is my program running in?" → os.getcwd).
"""

import importlib
import inspect

MODULES = (
    "os", "os.path", "shutil", "json", "re", "math", "statistics", "random", "string",
    "datetime", "time", "itertools", "functools", "collections", "pathlib", "subprocess",
    "glob", "zipfile", "csv", "hashlib", "base64", "urllib.parse", "textwrap", "heapq",
    "bisect", "copy", "tempfile", "uuid", "secrets", "gzip", "pickle", "socket", "fnmatch",
    "difflib", "unicodedata", "calendar", "operator", "platform", "getpass", "html",
    "shlex", "zlib", "binascii", "struct", "webbrowser", "locale", "io", "sys",
)  # fmt: skip

PARAPHRASED = [
    ("which folder is my program currently running in", "os.getcwd"),
    ("move into a different folder before running the rest of the script", "os.chdir"),
    ("see every name stored inside a folder", "os.listdir"),
    ("make a folder and all the missing parent folders in one go", "os.makedirs"),
    ("get rid of a file from the disk", "os.remove"),
    ("give a file a new name", "os.rename"),
    ("read a setting from the shell environment with a fallback", "os.getenv"),
    ("how many processors does this machine have", "os.cpu_count"),
    ("find out the number identifying my running program", "os.getpid"),
    ("walk through a whole directory tree top to bottom", "os.walk"),
    ("glue pieces of a path together with the right slashes", "os.path.join"),
    ("check whether something exists on disk at a given location", "os.path.exists"),
    ("separate the extension from a file name", "os.path.splitext"),
    ("how big is this file in bytes", "os.path.getsize"),
    ("expand the tilde to the user's home folder", "os.path.expanduser"),
    ("duplicate an entire folder with everything inside it", "shutil.copytree"),
    ("delete a folder that still has things in it", "shutil.rmtree"),
    ("locate where an executable lives on the search path", "shutil.which"),
    ("how much free space is left on the drive", "shutil.disk_usage"),
    ("pack a directory into a zip or tar archive", "shutil.make_archive"),
    ("turn a python dictionary into a text string for sending over the web", "json.dumps"),
    ("read structured data out of a text string in javascript object notation", "json.loads"),
    ("replace every occurrence of a pattern in some text", "re.sub"),
    ("cut a string wherever a pattern appears", "re.split"),
    ("collect all non-overlapping pattern hits as a list", "re.findall"),
    ("protect special characters so text can be matched literally", "re.escape"),
    ("round a number up to the next whole number", "math.ceil"),
    ("largest number that divides both integers evenly", "math.gcd"),
    ("distance from the origin to a point given its coordinates", "math.hypot"),
    ("check if two floating point values are nearly equal", "math.isclose"),
    ("multiply 1 by 2 by 3 and so on up to n", "math.factorial"),
    ("how many ways to choose k items from n without order", "math.comb"),
    ("the middle value of a list of numbers", "statistics.median"),
    ("the most common value in some data", "statistics.mode"),
    ("how spread out a sample is around its average", "statistics.stdev"),
    ("pick one item at random from a list", "random.choice"),
    ("put the items of a list in a random order", "random.shuffle"),
    ("draw several distinct items at random without repeats", "random.sample"),
    ("start the random generator from a fixed value to get repeatable results", "random.seed"),
    ("capitalise the first letter of every word", "string.capwords"),
    ("pause the program for a few seconds", "time.sleep"),
    ("a clock for timing how long code takes that never goes backwards", "time.perf_counter"),
    ("repeat the sequence of items forever in a cycle", "itertools.cycle"),
    ("every ordering of a collection of items", "itertools.permutations"),
    ("running totals of a list", "itertools.accumulate"),
    ("group neighbouring items that share a key", "itertools.groupby"),
    ("join several iterables end to end into one stream", "itertools.chain"),
    ("remember results of a slow function so repeated calls are fast", "functools.lru_cache"),
    ("fix some arguments of a function to make a simpler function", "functools.partial"),
    ("combine a list into a single value by applying a two argument function repeatedly",
     "functools.reduce"),
    ("tally how often each element appears", "collections.Counter"),
    ("run an external command and wait for it to finish", "subprocess.run"),
    ("capture what another program prints", "subprocess.check_output"),
    ("find files whose names match a wildcard like *.txt", "glob.glob"),
    ("fingerprint some bytes with a 256 bit digest", "hashlib.sha256"),
    ("encode binary data as printable ascii text for email", "base64.b64encode"),
    ("break a web address into its scheme, host and path", "urllib.parse.urlparse"),
    ("percent-escape characters so text can go in a url", "urllib.parse.quote"),
    ("wrap a long paragraph to a fixed line width", "textwrap.wrap"),
    ("remove the common leading indentation from a block of text", "textwrap.dedent"),
    ("get the n biggest items without sorting everything", "heapq.nlargest"),
    ("find where to insert a value to keep a sorted list sorted", "bisect.bisect_left"),
    ("make a copy of a nested object including everything inside it", "copy.deepcopy"),
    ("a scratch folder that disappears when you are done", "tempfile.TemporaryDirectory"),
    ("a random unique identifier", "uuid.uuid4"),
    ("a hard to guess token for password reset links", "secrets.token_urlsafe"),
    ("compress bytes with the deflate format used by .gz files", "gzip.compress"),
    ("save a python object to a file in binary form", "pickle.dump"),
    ("look up the ip address for a host name", "socket.gethostbyname"),
    ("check a filename against a shell style pattern", "fnmatch.fnmatch"),
    ("suggest close spellings for a mistyped word from a list", "difflib.get_close_matches"),
    ("is a given year a leap year", "calendar.isleap"),
    ("which operating system am i running on", "platform.system"),
    ("ask for a password without showing what is typed", "getpass.getpass"),
    ("turn < and & into safe html entities", "html.escape"),
    ("split a command line into arguments the way a unix shell would", "shlex.split"),
    ("a checksum of bytes that is quick to compute", "zlib.crc32"),
    ("convert raw bytes into a hexadecimal string", "binascii.hexlify"),
    ("turn python values into packed binary according to a layout", "struct.pack"),
    ("open a web page in the user's browser", "webbrowser.open"),
    ("stop the program right away with an exit status", "sys.exit"),
    ("how deep can functions call each other before python gives up", "sys.getrecursionlimit"),
    ("the name of the user who is logged in", "getpass.getuser"),
    ("merge several already sorted inputs into one sorted output", "heapq.merge"),
    ("the full absolute version of a relative path", "os.path.abspath"),
]  # fmt: skip


def documents() -> dict[str, str]:
    """{document name: text} for every documented function of MODULES."""
    docs: dict[str, str] = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in sorted(dir(module)):
            if name.startswith("_"):
                continue
            value = getattr(module, name)
            if not callable(value) or (getattr(value, "__module__", None) or "").startswith(
                "typing"
            ):
                continue
            doc = inspect.getdoc(value)
            if not doc or len(doc) < 40:
                continue
            try:
                signature = str(inspect.signature(value))
            except (TypeError, ValueError):
                signature = "(...)"
            docs[f"{module_name}.{name}"] = f"{module_name}.{name}{signature}\n\n{doc}\n"
    return docs


def queries(docs: dict[str, str]) -> list[tuple[str, str, str]]:
    """(kind, query, document name) for every labelled query whose document exists."""
    literal = []
    for n, (name, text) in enumerate(sorted(docs.items())):
        if n % 7:
            continue
        first = text.split("\n\n", 1)[1].split("\n\n")[0].replace("\n", " ")
        sentence = first.split(". ")[0].strip()
        if len(sentence.split()) >= 4:
            literal.append(("literal", sentence, name))
    paraphrased = [("paraphrased", q, name) for q, name in PARAPHRASED if name in docs]
    return literal + paraphrased
